// -durability-report: the start-up durability facts as JSON for programs, with no guest run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();

test('-durability-report prints each NVDIMM\'s durability as JSON and leaves the files alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-durability-'));
  try {
    const a = join(dir, 'a.img');
    writeFileSync(a, Buffer.alloc(2 << 20, 0x11));
    const r = spawnSync(process.execPath, [...PMEMVM, '-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G',
      '-object', `memory-backend-file,id=m0,share=on,mem-path=${a},size=2M`,
      '-object', 'memory-backend-ram,id=m1,size=2M',
      '-device', 'nvdimm,id=nv0,memdev=m0', '-device', 'nvdimm,id=nv1,memdev=m1,slot=1',
      '-durability-report'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.map((d: { device: string; slot: number; mode: string; crashSafe: boolean; addr: number }) =>
      [d.device, d.slot, d.mode, d.crashSafe, d.addr]), [
      ['nv0', 0, 'page-cache', false, 0x100000000],
      ['nv1', 1, 'ram', false, 0x100200000],
    ]);
    assert.equal(report[0].path, a);
    assert.match(report[0].reason, /page cache/);
    assert.ok(readFileSync(a).every((b) => b === 0x11));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
