import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DeviceMemory, deviceMemoryRegion } from '../../src/memory/device-memory.js';
import { UserError } from '../../src/errors.js';

const MiB = 1 << 20, GiB = 1 << 30, G4 = 4 * GiB;

function throwsUser(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('region: matches qemu-system-x86_64 7.2 pc', () => {
  // Each expectation was read off QEMU 7.2's "usable range for memory devices [base:size]".
  assert.deepEqual(deviceMemoryRegion(512 * MiB, 8 * GiB, 4), { base: 0x1_0000_0000, size: 0x2_e000_0000, limit: 0x1_e000_0000 });
  assert.deepEqual(deviceMemoryRegion(6 * GiB, 16 * GiB, 4), { base: 0x1_c000_0000, size: 0x3_8000_0000, limit: 10 * GiB });
  assert.deepEqual(deviceMemoryRegion(3700 * MiB, 16 * GiB, 4), { base: 0x1_4000_0000, size: 0x4_18c0_0000, limit: 16 * GiB - 3700 * MiB });
  // 3.5 GiB stays below 4 GiB entirely.
  assert.equal(deviceMemoryRegion(3584 * MiB - 1, 8 * GiB, 1).base, G4);
  assert.equal(deviceMemoryRegion(0, 8 * GiB, 0).size, 8 * GiB, 'no slots: the region is maxmem - RAM (virtio-pmem needs no slot)');
  assert.equal(deviceMemoryRegion(GiB, GiB, 0).size, 0, 'maxmem = RAM: no region');
});

test('region: QEMU\'s -m mistakes', () => {
  throwsUser(() => deviceMemoryRegion(4 * GiB, 2 * GiB, 4), 'invalid value of maxmem: maximum memory size (0x80000000) must be at least the initial memory size (0x100000000)');
  throwsUser(() => deviceMemoryRegion(2 * GiB, 2 * GiB, 4), 'invalid value of maxmem: memory slots were specified but maximum memory size (0x80000000) is equal to the initial memory size (0x80000000); raise maxmem');
  throwsUser(() => deviceMemoryRegion(512 * MiB, 4 * GiB, 300), 'unsupported amount of memory slots: 300; the most is 256');
});

function qemuLike(slots = 4): DeviceMemory {
  return new DeviceMemory({ ...deviceMemoryRegion(512 * MiB, 8 * GiB, slots), slots });
}

test('allocator: first fit in address order, lowest free slot', () => {
  const dm = qemuLike();
  assert.deepEqual(dm.allocate({ id: 'a', size: 1 * GiB, align: 2 * MiB }), { addr: G4, slot: 0 });
  assert.deepEqual(dm.allocate({ id: 'b', size: 4 * MiB, align: 4096 }), { addr: G4 + GiB, slot: 1 });
  assert.deepEqual(dm.allocate({ id: 'c', size: 2 * MiB, align: 2 * MiB }), { addr: G4 + GiB + 4 * MiB, slot: 2 });
  assert.equal(dm.used(), GiB + 6 * MiB);
  assert.deepEqual(dm.plan().devices.map((d) => [d.id, d.slot]), [['a', 0], ['b', 1], ['c', 2]]);
});

test('allocator: alignment pushes the device up', () => {
  const dm = qemuLike();
  dm.allocate({ id: 'small', size: 4096, align: 4096 });
  assert.deepEqual(dm.allocate({ id: 'huge', size: GiB, align: GiB }), { addr: G4 + GiB, slot: 1 });
  // The gap below the 1 GiB device is still used by a later small one.
  assert.deepEqual(dm.allocate({ id: 'gap', size: 2 * MiB, align: 2 * MiB }), { addr: G4 + 2 * MiB, slot: 2 });
  throwsUser(() => dm.allocate({ id: 'odd', size: 3 * MiB, align: 2 * MiB }), "memory device 'odd': backend memory size must be multiple of 0x200000; give the backend a size that is");
});

test('allocator: explicit addresses', () => {
  const dm = qemuLike();
  assert.deepEqual(dm.allocate({ id: 'a', size: GiB, align: 2 * MiB, addr: 0x1_0000_0000 }), { addr: 0x1_0000_0000, slot: 0 });
  throwsUser(() => dm.allocate({ id: 'b', size: GiB, align: 2 * MiB, addr: 0x1_2000_0000 }), "memory device 'b': address range conflicts with memory device id='a'");
  throwsUser(() => dm.allocate({ id: 'b', size: GiB, align: 2 * MiB, addr: 0x1_4000_1000 }), "memory device 'b': address must be aligned to 0x200000 bytes");
  throwsUser(() => dm.allocate({ id: 'b', size: GiB, align: 2 * MiB, addr: 0x1000_0000 }), "memory device 'b': can't add memory device [0x10000000:0x40000000], usable range for memory devices [0x100000000:0x2e0000000]");
  throwsUser(() => dm.allocate({ id: 'b', size: GiB, align: 2 * MiB, addr: 0x3_e000_0000 - GiB + 2 * MiB }), "memory device 'b': can't add memory device [0x3a0200000:0x40000000], usable range for memory devices [0x100000000:0x2e0000000]");
  // Right behind a, and at the very end of the region.
  assert.deepEqual(dm.allocate({ id: 'b', size: GiB, align: 2 * MiB, addr: 0x1_4000_0000 }), { addr: 0x1_4000_0000, slot: 1 });
  assert.deepEqual(dm.allocate({ id: 'c', size: 2 * MiB, align: 2 * MiB, addr: 0x3_e000_0000 - 2 * MiB }), { addr: 0x3_dfe0_0000, slot: 2 });
  // An automatic one goes after the explicit ones below it.
  assert.deepEqual(dm.allocate({ id: 'd', size: 2 * MiB, align: 2 * MiB }), { addr: 0x1_8000_0000, slot: 3 });
});

test('allocator: slots', () => {
  const dm = qemuLike(2);
  throwsUser(() => dm.allocate({ id: 'x', size: 2 * MiB, align: 2 * MiB, slot: 2 }), "memory device 'x': invalid slot number 2, valid range is [0-1]");
  throwsUser(() => dm.allocate({ id: 'x', size: 2 * MiB, align: 2 * MiB, slot: -2 }), "memory device 'x': invalid slot number -2, valid range is [0-1]");
  assert.equal(dm.allocate({ id: 'a', size: 2 * MiB, align: 2 * MiB, slot: 1 }).slot, 1);
  throwsUser(() => dm.allocate({ id: 'b', size: 2 * MiB, align: 2 * MiB, slot: 1 }), "memory device 'b': slot 1 is busy; pick a free slot= or leave it out");
  assert.equal(dm.allocate({ id: 'b', size: 2 * MiB, align: 2 * MiB }).slot, 0);
  throwsUser(() => dm.allocate({ id: 'c', size: 2 * MiB, align: 2 * MiB }), "memory device 'c': no free slots available; raise slots= in -m (now 2)");
  throwsUser(() => dm.allocate({ id: 'a', size: 2 * MiB, align: 2 * MiB }), "Duplicate ID 'a' for device; give each device its own id=");
  const none = new DeviceMemory({ base: G4, size: 0, slots: 0 });
  throwsUser(() => none.allocate({ id: 'n', size: 2 * MiB, align: 2 * MiB }), "memory device 'n': no slots where allocated, please specify the 'slots' option (e.g. -m 512M,slots=2,maxmem=8G)");
  const slotless = new DeviceMemory({ base: G4, size: GiB, slots: 0 });
  assert.deepEqual(slotless.allocate({ id: 'p', size: 2 * MiB, align: 2 * MiB, needsSlot: false }), { addr: G4, slot: -1 });
});

test('allocator: no room, by total and by fragmentation', () => {
  // QEMU -m 512M,slots=4,maxmem=2G: 1.5 GiB in all.
  const dm = new DeviceMemory({ ...deviceMemoryRegion(512 * MiB, 2 * GiB, 4), slots: 4 });
  dm.allocate({ id: 'a', size: GiB, align: 2 * MiB });
  throwsUser(() => dm.allocate({ id: 'b', size: GiB, align: 2 * MiB }), "memory device 'b': not enough space, currently 0x40000000 in use of total space for memory devices 0x60000000; raise maxmem= in -m");
  // QEMU -m 512M,slots=2,maxmem=8G, 1 GiB at 8 GiB, then 5 GiB: fits the total, not any gap.
  const frag = new DeviceMemory({ ...deviceMemoryRegion(512 * MiB, 8 * GiB, 2), slots: 2 });
  frag.allocate({ id: 'a', size: GiB, align: 2 * MiB, addr: 0x2_0000_0000 });
  throwsUser(() => frag.allocate({ id: 'b', size: 5 * GiB, align: 2 * MiB }), "memory device 'b': could not find position in guest address space for memory device - memory fragmented due to alignments; give it an addr= or raise maxmem");
});

test('allocator: release frees the range and the slot for reuse', () => {
  const dm = qemuLike(2);
  dm.allocate({ id: 'a', size: GiB, align: 2 * MiB });
  dm.allocate({ id: 'b', size: GiB, align: 2 * MiB });
  assert.equal(dm.release('a'), true);
  assert.equal(dm.release('a'), false);
  assert.equal(dm.used(), GiB);
  assert.deepEqual(dm.allocate({ id: 'c', size: 512 * MiB, align: 2 * MiB }), { addr: G4, slot: 0 });
  assert.deepEqual(dm.plan(), {
    base: G4, size: 7.5 * GiB + 2 * GiB, limit: 7.5 * GiB, slots: 2, used: 1.5 * GiB,
    devices: [{ id: 'c', addr: G4, size: 512 * MiB, slot: 0 }, { id: 'b', addr: G4 + GiB, size: GiB, slot: 1 }],
  });
  assert.deepEqual(JSON.parse(JSON.stringify(dm.plan())), dm.plan());
});
