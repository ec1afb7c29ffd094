// PMEMVM_SLICE_MS through the real binary: a value that is not a whole number of
// milliseconds from 1 to 3600000 is refused in one line, exit 1, before any backend file is
// created. No guest boots (the kernel is a dummy). A good value is used by monitor.test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();

test('PMEMVM_SLICE_MS that is not 1 to 3600000 ms: one line, exit 1, no backend file created', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-slice-'));
  try {
    const kernel = join(dir, 'not-a-kernel');
    writeFileSync(kernel, 'never read\n');
    for (const bad of ['0', '50ms', '-5', '3600001', '']) {
      const backend = join(dir, 'vp.img');
      const r = spawnSync(process.execPath, [...PMEMVM, '-kernel', kernel, '-m', '128M,maxmem=1G', '-serial', 'null',
        '-object', `memory-backend-file,id=m,share=on,mem-path=${backend},size=64M`, '-device', 'virtio-pmem-pci,memdev=m,id=p'],
      { encoding: 'utf8', env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1', PMEMVM_SLICE_MS: bad }, timeout: 60_000 });
      assert.equal(r.status, 1, `${bad}: ${r.stderr}`);
      assert.equal(r.stderr, `pmemvm: PMEMVM_SLICE_MS=${bad}: give vCPU 0's time slice in milliseconds, 1 to 3600000 (default 50)\n`);
      assert.equal(existsSync(backend), false, `${bad}: a backend file was created`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
