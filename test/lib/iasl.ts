// Run ACPICA's iasl (acpica-tools, installed by the project's setup) for byte-exact AML tests.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** iasl with `args` in `dir`; fails the test with iasl's output unless it exits 0. Returns that output. */
export function iasl(dir: string, args: string[]): string {
  const r = spawnSync('iasl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`iasl is required for these tests: ${r.error.message}`);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  return out;
}

/** Compile `body` (ASL terms) inside an SSDT with iasl, warning-free; the AML after the 36-byte header, as hex. */
export function compileAsl(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-asl-'));
  try {
    writeFileSync(join(dir, 't.asl'), `DefinitionBlock ("", "SSDT", 2, "PMEMVM", "ASLTEST", 1)\n{\n${body}\n}\n`);
    const out = iasl(dir, ['t.asl']);
    assert.match(out, /0 Errors, 0 Warnings/, out);
    return Buffer.from(readFileSync(join(dir, 't.aml')).subarray(36)).toString('hex');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
