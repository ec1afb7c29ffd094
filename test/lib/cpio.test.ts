// Checks the newc writer against cpio(1), which must list and extract what we wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newcArchive, makeScriptInitrd } from './cpio.js';

test('newc archive round-trips through cpio(1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpio-test-'));
  try {
    const arc = newcArchive([{ name: 'etc' }, { name: 'etc/a.txt', data: 'hello\n' }, { name: 'run.sh', data: 'echo x', mode: 0o755 }]);
    assert.equal(arc.length % 512, 0);
    writeFileSync(join(dir, 'a.cpio'), arc);
    execFileSync('cpio', ['-idm', '--quiet', '-F', join(dir, 'a.cpio')], { cwd: dir });
    assert.equal(readFileSync(join(dir, 'etc/a.txt'), 'utf8'), 'hello\n');
    assert.equal(statSync(join(dir, 'run.sh')).mode & 0o777, 0o755);
    assert.ok(statSync(join(dir, 'etc')).isDirectory());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('makeScriptInitrd appends /run.sh after the base bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpio-test-'));
  try {
    const base = join(dir, 'base.img');
    writeFileSync(base, newcArchive([{ name: 'init', data: '#!/bin/sh\n', mode: 0o755 }]));
    const out = await makeScriptInitrd(base, 'echo hi\n');
    const bytes = readFileSync(out);
    assert.ok(bytes.subarray(0, statSync(base).size).equals(readFileSync(base)));
    assert.ok(bytes.includes(Buffer.from('run.sh\0')) && bytes.includes(Buffer.from('echo hi\n')));
    rmSync(join(out, '..'), { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
