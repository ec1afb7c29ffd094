// The live device set (src/machine/memory-devices.ts) as hotplug uses it: devices added
// at run time get the command line's checks and placement, a refusal leaves no slot or
// address taken, and an unplugged virtio-pmem device frees its range and PCI slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevices } from '../../src/machine/memory-devices.js';
import { openBackend, type BackendSpec } from '../../src/memory/backend.js';
import { UserError } from '../../src/errors.js';

const MiB = 2 ** 20;
const ram = (id: string, size: number): BackendSpec => ({ id, kind: 'ram', size: BigInt(size), share: false, pmem: false, readonly: false, discardData: false });

function open(slots: number, maxmem: number, backends: BackendSpec[]) {
  return MemoryDevices.open({ ramSize: 256 * MiB, slots, maxmem, backends, nvdimms: [] });
}

test('device_add of an NVDIMM: placed like a cold one, marked hotplugged; refusals change nothing', () => {
  const d = open(1, 1024 * MiB, [ram('a', 128 * MiB), ram('b', 128 * MiB), ram('big', 1024 * MiB)]);
  try {
    const before = d.allocator.plan();
    assert.throws(() => d.addNvdimm({ id: 'x', memdev: 'big', labelSize: 0, unarmed: false }),
      (e: unknown) => e instanceof UserError && /not enough space, currently 0x0 in use of total space for memory devices 0x30000000/.test(e.message));
    assert.deepEqual(d.allocator.plan(), before, 'no address or slot taken');
    assert.equal(d.nvdimms.length, 0);
    const n = d.addNvdimm({ id: 'nv1', memdev: 'a', labelSize: 128 * 1024, unarmed: false });
    assert.equal(n.hotplugged, true);
    assert.equal(n.addr, d.region.base);
    assert.equal(n.slot, 0);
    assert.equal(n.size, 128 * MiB - 2 * MiB, 'the label area and alignment as on the command line');
    assert.throws(() => d.addNvdimm({ id: 'nv2', memdev: 'b', labelSize: 0, unarmed: false }), /no free slots available/);
    assert.deepEqual(d.nvdimms, [n]);
    assert.deepEqual(d.busyBackends(), new Set(['a']));
    assert.deepEqual(d.deviceIds(), new Set(['nv1']));
    d.removeNvdimm(n);
    assert.deepEqual(d.allocator.plan(), before, 'a device the machine refused gives everything back');
  } finally {
    d.close();
  }
});

test('virtio-pmem: added, removed, and the freed range and PCI slot are reused', () => {
  const d = open(0, 1024 * MiB, [ram('a', 128 * MiB), ram('b', 64 * MiB)]);
  try {
    const p = d.addVirtioPmem({ id: 'vp', memdev: 'a' });
    assert.deepEqual([p.pciSlot, p.addr, p.hotplugged], [2, d.region.base, true]);
    assert.throws(() => d.addVirtioPmem({ id: 'vp2', memdev: 'b', pciSlot: 2 }), /PCI slot 2 is already taken/);
    assert.equal(d.allocator.plan().devices.length, 1, 'the refused device took no address');
    assert.throws(() => d.deleteBackend('a'), /in use/);
    d.removeVirtioPmem(p);
    assert.equal(d.virtioPmems.length, 0);
    assert.equal(d.deleteBackend('a'), true);
    assert.equal(d.backends.has('a'), false);
    const q = d.addVirtioPmem({ id: 'vp3', memdev: 'b' });
    assert.deepEqual([q.pciSlot, q.addr], [2, d.region.base]);
    d.addBackend(openBackend(ram('c', 64 * MiB)));
    assert.equal(d.addVirtioPmem({ memdev: 'c' }).pciSlot, 3);
  } finally {
    d.close();
  }
});
