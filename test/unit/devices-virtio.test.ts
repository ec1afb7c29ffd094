// Split virtqueue, virtio-pci transport and virtio-pmem against a fake guest
// memory: the good path, and hostile rings that must mark the device broken
// (never throw out of the transport, never touch memory outside the guest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SplitQueue, VirtqueueError } from '../../src/devices/virtio/queue.js';
import { VirtioPciTransport, STATUS, VIRTIO_F_VERSION_1 } from '../../src/devices/virtio/pci.js';
import { VirtioPmem } from '../../src/devices/virtio/pmem.js';
import { GuestMemoryError } from '../../src/memory/guest-memory.js';

const RAM = 1 << 20;
function fakeMemory() {
  const ram = new Uint8Array(RAM);
  const check = (gpa: number, len: number) => {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || len < 0 || gpa + len > RAM) throw new GuestMemoryError(`0x${gpa.toString(16)}+${len} outside`);
  };
  return {
    ram,
    read: (gpa: number, len: number) => { check(gpa, len); return ram.slice(gpa, gpa + len); },
    write: (gpa: number, data: Uint8Array) => { check(gpa, data.length); ram.set(data, gpa); },
  };
}

const DESC = 0x1000, AVAIL = 0x2000, USED = 0x3000, SIZE = 8;
function putDesc(ram: Uint8Array, i: number, addr: number, len: number, flags: number, next: number) {
  const v = new DataView(ram.buffer, DESC + 16 * i, 16);
  v.setBigUint64(0, BigInt(addr), true);
  v.setUint32(8, len, true);
  v.setUint16(12, flags, true);
  v.setUint16(14, next, true);
}
function offer(ram: Uint8Array, slot: number, head: number, idx: number) {
  new DataView(ram.buffer).setUint16(AVAIL + 4 + 2 * slot, head, true);
  new DataView(ram.buffer).setUint16(AVAIL + 2, idx, true);
}

test('split queue: chains in order, gather/scatter, used ring', () => {
  const m = fakeMemory();
  const q = new SplitQueue(m, SIZE, DESC, AVAIL, USED);
  assert.equal(q.pop(), null);
  m.ram.set([0, 0, 0, 0], 0x8000);
  putDesc(m.ram, 0, 0x8000, 4, 1, 1);
  putDesc(m.ram, 1, 0x9000, 4, 2, 0);
  offer(m.ram, 0, 0, 1);
  const c = q.pop()!;
  assert.deepEqual(c.readable, [{ addr: 0x8000, len: 4 }]);
  assert.deepEqual(c.writable, [{ addr: 0x9000, len: 4 }]);
  assert.equal(q.scatter(c, Uint8Array.of(7, 0, 0, 0)), 4);
  q.push(c.head, 4);
  const used = new DataView(m.ram.buffer, USED);
  assert.deepEqual([used.getUint16(2, true), used.getUint32(4, true), used.getUint32(8, true)], [1, 0, 4]);
  assert.equal(m.ram[0x9000], 7);
});

test('split queue: hostile rings are refused with VirtqueueError or GuestMemoryError, nothing else', () => {
  const cases: [string, (ram: Uint8Array) => void][] = [
    ['descriptor index out of the table', (ram) => offer(ram, 0, 200, 1)],
    ['a loop', (ram) => { putDesc(ram, 0, 0x8000, 4, 1, 1); putDesc(ram, 1, 0x8000, 4, 1, 0); offer(ram, 0, 0, 1); }],
    ['indirect', (ram) => { putDesc(ram, 0, 0x8000, 16, 4, 0); offer(ram, 0, 0, 1); }],
    ['readable after writable', (ram) => { putDesc(ram, 0, 0x8000, 4, 3, 1); putDesc(ram, 1, 0x9000, 4, 0, 0); offer(ram, 0, 0, 1); }],
    ['avail index jumps by more than the queue', (ram) => offer(ram, 0, 0, 100)],
    ['chain over 1 GiB', (ram) => { putDesc(ram, 0, 0x8000, 0xffffffff, 0, 0); offer(ram, 0, 0, 1); }],
  ];
  for (const [what, setup] of cases) {
    const m = fakeMemory();
    const q = new SplitQueue(m, SIZE, DESC, AVAIL, USED);
    setup(m.ram);
    assert.throws(() => q.pop(), (e: unknown) => e instanceof VirtqueueError || e instanceof GuestMemoryError, what);
  }
  // Buffers outside guest memory fail when touched, through the memory's bounds check.
  const m = fakeMemory();
  const q = new SplitQueue(m, SIZE, DESC, AVAIL, USED);
  putDesc(m.ram, 0, RAM - 2, 4, 0, 0);
  offer(m.ram, 0, 0, 1);
  assert.throws(() => q.gather(q.pop()!, 4), GuestMemoryError);
  // Rings outside guest memory are refused when the queue is enabled.
  assert.throws(() => new SplitQueue(m, SIZE, RAM - 8, AVAIL, USED), VirtqueueError);
  assert.throws(() => new SplitQueue(m, 3, DESC, AVAIL, USED), VirtqueueError);
});

/** Drive the transport the way Linux's virtio_pci_modern does. */
function bringUp(t: VirtioPciTransport, mem: ReturnType<typeof fakeMemory>, features = VIRTIO_F_VERSION_1) {
  const w = (off: number, size: 1 | 2 | 4, v: number) => t.bar.write(off, size, v);
  w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  w(0x08, 4, 0); w(0x0c, 4, Number(features & 0xffffffffn));
  w(0x08, 4, 1); w(0x0c, 4, Number(features >> 32n));
  w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
  if (!(t.bar.read(0x14, 1) & STATUS.FEATURES_OK)) return false;
  w(0x16, 2, 0); w(0x18, 2, SIZE);
  w(0x20, 4, DESC); w(0x24, 4, 0); w(0x28, 4, AVAIL); w(0x2c, 4, 0); w(0x30, 4, USED); w(0x34, 4, 0);
  w(0x1c, 2, 1);
  w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  void mem;
  return true;
}

test('virtio-pmem over virtio-pci: config, a flush in order, INTx raised after the used ring; a legacy driver is refused', async () => {
  const mem = fakeMemory();
  const irq: boolean[] = [];
  let flushes = 0;
  const model = new VirtioPmem({ start: 0x1_0000_0000, size: 64 << 20, flusher: { flush: async () => { flushes++; } } });
  const t = new VirtioPciTransport(model, { memory: mem, setIrq: (l) => irq.push(l) });
  assert.equal(t.pci.read(0, 4), 0x105b1af4);
  assert.equal(t.bar.read(0x2000, 4), 0);      // start, low
  assert.equal(t.bar.read(0x2004, 4), 1);      // start, high
  assert.equal(t.bar.read(0x2008, 4), 64 << 20);
  assert.equal(bringUp(new VirtioPciTransport(model, { memory: mem, setIrq: () => {} }), mem, 0n), false, 'no VERSION_1: FEATURES_OK stays clear');
  assert.ok(bringUp(t, mem));

  putDesc(mem.ram, 0, 0x8000, 4, 1, 1); // type 0 = flush
  putDesc(mem.ram, 1, 0x9000, 4, 2, 0);
  mem.ram.fill(0xee, 0x9000, 0x9004);
  offer(mem.ram, 0, 0, 1);
  t.bar.write(0x3000, 2, 0); // notify queue 0
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(flushes, 1);
  assert.deepEqual([...mem.ram.subarray(0x9000, 0x9004)], [0, 0, 0, 0]);
  assert.equal(new DataView(mem.ram.buffer).getUint16(USED + 2, true), 1);
  assert.deepEqual(irq, [true]);
  assert.equal(t.bar.read(0x1000, 1), 1, 'ISR: used buffer');
  assert.deepEqual(irq, [true, false], 'reading ISR lowers INTx');

  // A hostile chain: the device becomes "needs reset", pmemvm carries on.
  offer(mem.ram, 1, 77, 2);
  t.bar.write(0x3000, 2, 0);
  assert.ok(t.bar.read(0x14, 1) & STATUS.NEEDS_RESET);
  t.bar.write(0x14, 1, 0); // reset
  assert.equal(t.bar.read(0x14, 1), 0);
});

test('virtio-pmem: a failing fsync answers 1 (EIO); a request without a status buffer is logged', async () => {
  const mem = fakeMemory();
  const errors: string[] = [];
  const model = new VirtioPmem({ start: 0, size: 4096, flusher: { flush: async () => { throw new Error('EIO'); } }, onError: (m) => errors.push(m) });
  const t = new VirtioPciTransport(model, { memory: mem, setIrq: () => {} });
  assert.ok(bringUp(t, mem));
  putDesc(mem.ram, 0, 0x8000, 4, 1, 1);
  putDesc(mem.ram, 1, 0x9000, 4, 2, 0);
  putDesc(mem.ram, 2, 0x8000, 4, 0, 0); // readable only
  offer(mem.ram, 0, 0, 1);
  offer(mem.ram, 1, 2, 2);
  t.bar.write(0x3000, 2, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(new DataView(mem.ram.buffer).getUint32(0x9000, true), 1);
  assert.equal(new DataView(mem.ram.buffer).getUint16(USED + 2, true), 2);
  assert.ok(errors.some((e) => /flush failed/.test(e)));
  assert.ok(errors.some((e) => /device-writable/.test(e)));
});
