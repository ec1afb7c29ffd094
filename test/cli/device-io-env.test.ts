// PMEMVM_DEVICE_IO and PMEMVM_FLUSH_ANSWERS through the real binary: a value pmemvm does not
// know is refused in one line, exit 1, before any backend file is created. No guest boots
// (the kernel is a dummy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();

function refused(env: Record<string, string>): { status: number | null; stderr: string; created: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-deviceio-'));
  try {
    const kernel = join(dir, 'not-a-kernel');
    writeFileSync(kernel, 'never read\n');
    const backend = join(dir, 'vp.img');
    const r = spawnSync(process.execPath, [...PMEMVM, '-kernel', kernel, '-m', '128M,maxmem=1G', '-serial', 'null',
      '-object', `memory-backend-file,id=m,share=on,mem-path=${backend},size=64M`, '-device', 'virtio-pmem-pci,memdev=m,id=p'],
    { encoding: 'utf8', env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1', ...env }, timeout: 60_000 });
    return { status: r.status, stderr: r.stderr, created: existsSync(backend) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('PMEMVM_DEVICE_IO=bogus: one line naming the two values, exit 1, no backend file created', () => {
  assert.deepEqual(refused({ PMEMVM_DEVICE_IO: 'bogus' }), {
    status: 1, created: false,
    stderr: 'pmemvm: PMEMVM_DEVICE_IO=bogus: use ring (io_uring on the main thread) or thread (a device I/O thread)\n',
  });
});

test('PMEMVM_FLUSH_ANSWERS=bogus: one line naming the two values, exit 1, no backend file created', () => {
  assert.deepEqual(refused({ PMEMVM_FLUSH_ANSWERS: 'bogus' }), {
    status: 1, created: false,
    stderr: 'pmemvm: PMEMVM_FLUSH_ANSWERS=bogus: use kernel (flushes answered by the kernel where it can; the default) or user (answered by pmemvm)\n',
  });
});
