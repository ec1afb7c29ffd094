// End-to-end check of the guest image under QEMU+KVM (the reference VMM): /init loads the
// pmem stack, runs /run.sh and reports its status; with an NVDIMM, ndctl sees the region.
// Needs real KVM: runs inside the test host (npm test) or on a machine with VT-x/SVM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { runGuest } from './guest.js';

const usableKvm = existsSync('/dev/kvm') && !existsSync('/sys/module/kvm_pvm');
const skip = usableKvm ? false : 'needs real KVM (run via npm test / the test host)';

test('guest boots under QEMU, runs /run.sh and reports its exit status', { skip }, async () => {
  const r = await runGuest({
    vmm: 'qemu',
    args: ['-m', '512M', '-smp', '2'],
    script: 'nproc\nndctl --version\nlsmod\nls /sys/firmware/acpi/tables\nexit 3\n',
  });
  assert.equal(r.guestExit, 3, r.output);
  assert.match(r.output, /PMEMVM-GUEST-READY/);
  assert.match(r.output, /^2$/m);
  assert.match(r.output, /^libnvdimm\s/m);
  assert.match(r.output, /FACP/);
  assert.equal(r.exitCode, 0);
});

test('guest sees a QEMU NVDIMM through ndctl', { skip }, async () => {
  const img = `/tmp/pmemvm-nv-${process.pid}.img`;
  try {
    const r = await runGuest({
      vmm: 'qemu',
      args: ['-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G', '-smp', '2',
        '-object', `memory-backend-file,id=mem1,share=on,mem-path=${img},size=256M`,
        '-device', 'nvdimm,id=nv1,memdev=mem1'],
      script: 'ndctl list -RDN\n',
    });
    assert.equal(r.guestExit, 0, r.output);
    assert.match(r.output, /"dev":"region0"/, r.output);
    assert.match(r.output, /"dev":"nmem0"/, r.output);
  } finally {
    rmSync(img, { force: true });
  }
});

test('input reaches a /run.sh that reads the console', { skip }, async () => {
  const r = await runGuest({ vmm: 'qemu', args: ['-m', '256M'], script: 'read name\necho "HELLO=[$name]"\n', input: 'pmem guest\n' });
  assert.equal(r.guestExit, 0, r.output);
  assert.match(r.output, /^HELLO=\[pmem guest\]$/m);
});
