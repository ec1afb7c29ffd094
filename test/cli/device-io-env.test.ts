// PMEMVM_DEVICE_IO through the real binary: a value pmemvm does not know is refused in one
// line, exit 1, before any backend file is created. No guest boots (the kernel is a dummy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();

test('PMEMVM_DEVICE_IO=bogus: one line naming the two values, exit 1, no backend file created', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-deviceio-'));
  try {
    const kernel = join(dir, 'not-a-kernel');
    writeFileSync(kernel, 'never read\n');
    const backend = join(dir, 'vp.img');
    const r = spawnSync(process.execPath, [...PMEMVM, '-kernel', kernel, '-m', '128M,maxmem=1G', '-serial', 'null',
      '-object', `memory-backend-file,id=m,share=on,mem-path=${backend},size=64M`, '-device', 'virtio-pmem-pci,memdev=m,id=p'],
    { encoding: 'utf8', env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1', PMEMVM_DEVICE_IO: 'bogus' }, timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, 'pmemvm: PMEMVM_DEVICE_IO=bogus: use ring (io_uring on the main thread) or thread (a device I/O thread)\n');
    assert.equal(existsSync(backend), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
