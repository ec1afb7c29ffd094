// A machine that cannot be built, with a virtio-pmem device already attached when it fails:
// one line, exit 1, and the process ends (before, it printed the line and then waited
// forever for the device's service). Through the real binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestImage } from '../lib/guest.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();

function run(dir: string, kernel: string, mem: string) {
  const r = spawnSync(process.execPath, [...PMEMVM, '-kernel', kernel, '-m', mem, '-serial', 'null',
    '-object', `memory-backend-file,id=m,share=on,mem-path=${join(dir, 'vp.img')},size=64M`, '-device', 'virtio-pmem-pci,memdev=m,id=p'],
  { encoding: 'utf8', env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1' }, timeout: 60_000 });
  assert.equal(r.error, undefined, `still running after 60 s:\n${r.stderr}`);
  assert.equal(r.status, 1, r.stderr);
  return r.stderr.trimEnd().split('\n').at(-1);
}

test('-kernel that is not a kernel, beside a virtio-pmem device: one line, exit 1, the process ends', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-build-'));
  try {
    const kernel = join(dir, 'not-a-kernel');
    writeFileSync(kernel, 'never read\n');
    assert.equal(run(dir, kernel, '128M,maxmem=1G'), `pmemvm: -kernel ${kernel}: not a Linux kernel (neither a bzImage nor an ELF vmlinux)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a kernel too big for -m, found after the virtio-pmem device was attached: one line, exit 1, the process ends', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-build-'));
  try {
    assert.match(run(dir, guestImage().vmlinux, '32M,maxmem=1G')!, /^pmemvm: kernel does not fit in guest RAM \(needs up to 0x[0-9a-f]+\); use a larger -m$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
