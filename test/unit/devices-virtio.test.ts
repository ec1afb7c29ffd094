// Split virtqueue, virtio-pci transport (INTx and MSI-X) and virtio-pmem against
// a fake guest memory, with the request server called in this thread: the good
// path, and hostile rings that must mark the device broken (never throw out of
// the transport, never touch memory outside the guest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SplitQueue, VirtqueueError } from '../../src/devices/virtio/queue.js';
import { MsixVectors, msixWords } from '../../src/devices/pci/msix.js';
import { VirtioPciTransport, STATUS, VIRTIO_F_VERSION_1 } from '../../src/devices/virtio/pci.js';
import { PmemRequestServer, VirtioPmem, type PmemServerOptions } from '../../src/devices/virtio/pmem.js';
import type { IrqSink } from '../../src/devices/irq-sink.js';
import { GuestMemory, GuestMemoryError } from '../../src/memory/guest-memory.js';
import * as libc from '../../src/sys/libc.js';

const RAM = 1 << 20;
function fakeMemory() {
  const ram = new Uint8Array(RAM);
  const check = (gpa: number, len: number) => {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || len < 0 || gpa + len > RAM) throw new GuestMemoryError(`0x${gpa.toString(16)}+${len} outside`);
  };
  const v = new DataView(ram.buffer);
  return {
    ram,
    read: (gpa: number, len: number) => { check(gpa, len); return ram.slice(gpa, gpa + len); },
    write: (gpa: number, data: Uint8Array) => { check(gpa, data.length); ram.set(data, gpa); },
    u16: (gpa: number) => { check(gpa, 2); return v.getUint16(gpa, true); },
    u32: (gpa: number) => { check(gpa, 4); return v.getUint32(gpa, true); },
    u64: (gpa: number) => { check(gpa, 8); return Number(v.getBigUint64(gpa, true)); },
    setU16: (gpa: number, x: number) => { check(gpa, 2); v.setUint16(gpa, x, true); },
    setU32: (gpa: number, x: number) => { check(gpa, 4); v.setUint32(gpa, x, true); },
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

test('split queue: each pop rewrites the queue\'s one chain, to the new request\'s shape (longer, shorter, none of a kind)', () => {
  const m = fakeMemory();
  const q = new SplitQueue(m, SIZE, DESC, AVAIL, USED);
  putDesc(m.ram, 0, 0x8000, 4, 1, 1);
  putDesc(m.ram, 1, 0x9000, 4, 2, 0);
  offer(m.ram, 0, 0, 1);
  const first = q.pop()!;
  const readable = first.readable[0];
  // Three readable and two writable, then one writable alone, then the first shape again.
  putDesc(m.ram, 2, 0x8100, 8, 1, 3); putDesc(m.ram, 3, 0x8200, 16, 1, 4); putDesc(m.ram, 4, 0x8300, 2, 1, 5);
  putDesc(m.ram, 5, 0x9100, 4, 3, 6); putDesc(m.ram, 6, 0x9200, 12, 2, 0);
  putDesc(m.ram, 7, 0x9300, 6, 2, 0);
  offer(m.ram, 1, 2, 2);
  offer(m.ram, 2, 7, 3);
  offer(m.ram, 3, 0, 4);
  const second = q.pop()!;
  assert.equal(second, first, 'the same object');
  assert.equal(second.readable[0], readable, 'its buffers reused');
  assert.deepEqual({ ...second }, { head: 2, readable: [{ addr: 0x8100, len: 8 }, { addr: 0x8200, len: 16 }, { addr: 0x8300, len: 2 }], writable: [{ addr: 0x9100, len: 4 }, { addr: 0x9200, len: 12 }] });
  assert.deepEqual({ ...q.pop()! }, { head: 7, readable: [], writable: [{ addr: 0x9300, len: 6 }] });
  assert.deepEqual({ ...q.pop()! }, { head: 0, readable: [{ addr: 0x8000, len: 4 }], writable: [{ addr: 0x9000, len: 4 }] });
  assert.equal(q.pop(), null);
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
function bringUp(t: VirtioPciTransport, features = VIRTIO_F_VERSION_1, vectors?: { config: number; queue: number }) {
  const w = (off: number, size: 1 | 2 | 4, v: number) => t.bar.write(off, size, v);
  w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  w(0x08, 4, 0); w(0x0c, 4, Number(features & 0xffffffffn));
  w(0x08, 4, 1); w(0x0c, 4, Number(features >> 32n));
  w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
  if (!(t.bar.read(0x14, 1) & STATUS.FEATURES_OK)) return false;
  if (vectors) w(0x10, 2, vectors.config);
  w(0x16, 2, 0); w(0x18, 2, SIZE);
  if (vectors) w(0x1a, 2, vectors.queue);
  w(0x20, 4, DESC); w(0x24, 4, 0); w(0x28, 4, AVAIL); w(0x2c, 4, 0); w(0x30, 4, USED); w(0x34, 4, 0);
  w(0x1c, 2, 1);
  w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  return true;
}

/** A transport and its request server wired together in this thread, with every interrupt recorded. */
function pmemDevice(flush: () => void, mem = fakeMemory(), hostFlush?: PmemServerOptions['flush']) {
  const irq: string[] = [];
  const errors: string[] = [];
  const sink: IrqSink = {
    setIntx: (level) => irq.push(level ? 'intx+' : 'intx-'),
    signalMsi: (lo, hi, data) => irq.push(`msi ${lo.toString(16)}:${hi}:${data.toString(16)}`),
  };
  let server: PmemRequestServer | null = null;
  const t = new VirtioPciTransport(new VirtioPmem(0x1_0000_0000, 64 << 20), {
    memory: mem, irq: sink, notify: () => server!.service(), onError: (m) => errors.push(m),
  });
  // By default the flush finishes inside the call (as a synchronous fsync would).
  const atOnce: PmemServerOptions['flush'] = (done) => {
    try { flush(); } catch (e) { done(e as Error); return; }
    done(null);
  };
  server = new PmemRequestServer({ shared: t.shared, memory: mem, flush: hostFlush ?? atOnce, irq: sink, onError: (m) => errors.push(m), onBroken: (m) => t.broken(m) });
  return { t, mem, irq, errors, server };
}

function flushRequest(ram: Uint8Array, slot: number, idx: number) {
  putDesc(ram, 0, 0x8000, 4, 1, 1); // type 0 = flush
  putDesc(ram, 1, 0x9000, 4, 2, 0);
  ram.fill(0xee, 0x9000, 0x9004);
  offer(ram, slot, 0, idx);
}
const usedIdx = (ram: Uint8Array) => new DataView(ram.buffer).getUint16(USED + 2, true);

test('virtio-pmem over virtio-pci: config, a flush answered before INTx is raised; a legacy driver is refused', () => {
  let flushes = 0;
  const { t, mem, irq } = pmemDevice(() => { flushes++; });
  assert.equal(t.pci.read(0, 4), 0x105b1af4);
  assert.equal(t.bar.read(0x2000, 4), 0);      // start, low
  assert.equal(t.bar.read(0x2004, 4), 1);      // start, high
  assert.equal(t.bar.read(0x2008, 4), 64 << 20);
  assert.equal(bringUp(pmemDevice(() => {}).t, 0n), false, 'no VERSION_1: FEATURES_OK stays clear');
  assert.ok(bringUp(t));

  flushRequest(mem.ram, 0, 1);
  t.bar.write(0x3000, 2, 0); // notify queue 0
  assert.equal(flushes, 1);
  assert.deepEqual([...mem.ram.subarray(0x9000, 0x9004)], [0, 0, 0, 0]);
  assert.equal(usedIdx(mem.ram), 1);
  assert.deepEqual(irq, ['intx+'], 'MSI-X is off: INTx');
  assert.equal(t.bar.read(0x1000, 1), 1, 'ISR: used buffer');
  assert.deepEqual(irq, ['intx+', 'intx-'], 'reading ISR lowers INTx');

  // A hostile chain: the device becomes "needs reset", pmemvm carries on, and the bad rings are not served again.
  offer(mem.ram, 1, 77, 2);
  t.bar.write(0x3000, 2, 0);
  assert.ok(t.bar.read(0x14, 1) & STATUS.NEEDS_RESET);
  assert.equal(t.bar.read(0x1000, 1), 2, 'ISR: configuration change');
  t.bar.write(0x3000, 2, 0);
  assert.equal(flushes, 1);
  t.bar.write(0x14, 1, 0); // reset
  assert.equal(t.bar.read(0x14, 1), 0);
});

test('virtio-pmem: a failing fsync answers 1 (EIO); a request without a status buffer is logged and answered', () => {
  const { t, mem, errors } = pmemDevice(() => { throw new Error('EIO'); });
  assert.ok(bringUp(t));
  putDesc(mem.ram, 0, 0x8000, 4, 1, 1);
  putDesc(mem.ram, 1, 0x9000, 4, 2, 0);
  putDesc(mem.ram, 2, 0x8000, 4, 0, 0); // readable only
  offer(mem.ram, 0, 0, 1);
  offer(mem.ram, 1, 2, 2);
  t.bar.write(0x3000, 2, 0);
  assert.equal(new DataView(mem.ram.buffer).getUint32(0x9000, true), 1);
  assert.equal(usedIdx(mem.ram), 2);
  assert.ok(errors.some((e) => /flush failed/.test(e)));
  assert.ok(errors.some((e) => /device-writable/.test(e)));
});

test('virtio-pmem: a reset while a flush is in hand drops its answer (nothing lands in the old rings)', () => {
  let dev: ReturnType<typeof pmemDevice> | null = null;
  dev = pmemDevice(() => { dev!.t.bar.write(0x14, 1, 0); });
  assert.ok(bringUp(dev.t));
  flushRequest(dev.mem.ram, 0, 1);
  dev.t.bar.write(0x3000, 2, 0);
  assert.equal(usedIdx(dev.mem.ram), 0);
  assert.deepEqual([...dev.mem.ram.subarray(0x9000, 0x9004)], [0xee, 0xee, 0xee, 0xee]);
  assert.deepEqual(dev.irq, ['intx-'], 'only the reset lowering INTx');
});

/** Two flush requests (heads 0 and 2, status at 0x9000 and 0x9010), offered in that order. */
function twoFlushes(ram: Uint8Array) {
  putDesc(ram, 0, 0x8000, 4, 1, 1);
  putDesc(ram, 1, 0x9000, 4, 2, 0);
  putDesc(ram, 2, 0x8000, 4, 1, 3);
  putDesc(ram, 3, 0x9010, 4, 2, 0);
  ram.fill(0xee, 0x9000, 0x9014);
  offer(ram, 0, 0, 1);
  offer(ram, 1, 2, 2);
}
/** A host fsync that returns only when the test says so. */
function heldFlushes() {
  const pending: ((error: Error | null) => void)[] = [];
  return { pending, flush: ((done) => { pending.push(done); }) as PmemServerOptions['flush'] };
}
const status = (ram: Uint8Array, at: number) => new DataView(ram.buffer).getUint32(at, true);

test('virtio-pmem: while a flush is with the host, the next request waits; answers in arrival order, one fsync each', () => {
  const host = heldFlushes();
  const { t, mem, irq } = pmemDevice(() => {}, fakeMemory(), host.flush);
  assert.ok(bringUp(t));
  twoFlushes(mem.ram);
  t.bar.write(0x3000, 2, 0);
  t.bar.write(0x3000, 2, 0); // a second notify while the first flush is out changes nothing
  assert.equal(host.pending.length, 1, 'one fsync at a time');
  assert.equal(usedIdx(mem.ram), 0, 'not answered before the fsync returns');
  assert.deepEqual(irq, []);
  host.pending.shift()!(null);
  assert.equal(usedIdx(mem.ram), 1);
  assert.equal(status(mem.ram, 0x9000), 0);
  assert.equal(status(mem.ram, 0x9010), 0xeeeeeeee, 'the second request is not answered with the first fsync');
  assert.equal(host.pending.length, 1, 'its own fsync starts once the first is answered');
  host.pending.shift()!(new Error('EIO'));
  assert.equal(usedIdx(mem.ram), 2);
  assert.equal(status(mem.ram, 0x9010), 1, 'a failed fsync answers EIO');
  assert.equal(host.pending.length, 0);
});

test('virtio-pmem: stop with a flush in hand answers that flush, then serves nothing more', () => {
  const host = heldFlushes();
  const { t, mem, server } = pmemDevice(() => {}, fakeMemory(), host.flush);
  assert.ok(bringUp(t));
  twoFlushes(mem.ram);
  t.bar.write(0x3000, 2, 0);
  let idle = 0;
  server.stop(() => { idle++; });
  assert.equal(idle, 0, 'not idle while the fsync is out');
  host.pending.shift()!(null);
  assert.equal(idle, 1);
  assert.equal(usedIdx(mem.ram), 1, 'the flush in hand is answered');
  t.bar.write(0x3000, 2, 0);
  assert.equal(host.pending.length, 0, 'nothing more is taken from the ring');
  assert.equal(usedIdx(mem.ram), 1);
  assert.equal(server.flushes, 1);
  let idleAgain = 0;
  pmemDevice(() => {}).server.stop(() => { idleAgain++; });
  assert.equal(idleAgain, 1, 'with no flush in hand, idle at once');
});

test("virtio-pmem: devices are independent: one device's fsync still out does not hold up another's answer", () => {
  const slow = heldFlushes();
  const a = pmemDevice(() => {}, fakeMemory(), slow.flush);
  let fast = 0;
  const b = pmemDevice(() => { fast++; });
  assert.ok(bringUp(a.t) && bringUp(b.t));
  flushRequest(a.mem.ram, 0, 1);
  flushRequest(b.mem.ram, 0, 1);
  a.t.bar.write(0x3000, 2, 0);
  b.t.bar.write(0x3000, 2, 0);
  assert.equal(usedIdx(b.mem.ram), 1);
  assert.equal(fast, 1);
  assert.equal(usedIdx(a.mem.ram), 0);
  slow.pending.shift()!(null);
  assert.equal(usedIdx(a.mem.ram), 1);
});

/** Offset of the first capability with this id, walking the list as an OS does. */
function findCap(t: VirtioPciTransport, id: number): number {
  for (let at = t.pci.read(0x34, 1); at; at = t.pci.read(at + 1, 1)) if (t.pci.read(at, 1) === id) return at;
  return -1;
}

test('virtio-pci MSI-X: capability, vector read-back, delivery, masking with pending bits', () => {
  let flushes = 0;
  const { t, mem, irq } = pmemDevice(() => { flushes++; });
  const cap = findCap(t, 0x11);
  assert.ok(cap >= 0x40, 'MSI-X capability present');
  assert.equal(t.pci.read(cap + 2, 2), 1, 'table size 2 (config + one queue), disabled');
  assert.equal(t.pci.read(cap + 4, 4), 0x4000 | 4, 'table at 0x4000 in BAR 4');
  assert.equal(t.pci.read(cap + 8, 4), 0x5000 | 4, 'PBA at 0x5000 in BAR 4');
  assert.equal(t.bar.read(0x400c, 4), 1, 'vectors start masked');

  // As Linux: enable with the function masked, program the entries, unmask the function.
  t.pci.write(cap + 2, 2, 0xc000);
  for (const [v, data] of [[0, 0x4021], [1, 0x4022]] as const) {
    t.bar.write(0x4000 + 16 * v, 4, 0xfee00000);
    t.bar.write(0x4004 + 16 * v, 4, 0);
    t.bar.write(0x4008 + 16 * v, 4, data);
    t.bar.write(0x400c + 16 * v, 4, 0);
  }
  t.pci.write(cap + 2, 2, 0x8000);
  assert.ok(bringUp(t, VIRTIO_F_VERSION_1, { config: 0, queue: 1 }));
  assert.equal(t.bar.read(0x10, 2), 0, 'config vector read back');
  t.bar.write(0x16, 2, 0);
  assert.equal(t.bar.read(0x1a, 2), 1, 'queue vector read back');
  t.bar.write(0x1a, 2, 5);
  assert.equal(t.bar.read(0x1a, 2), 0xffff, 'a vector beyond the table reads back as NO_VECTOR');
  t.bar.write(0x1a, 2, 1);

  flushRequest(mem.ram, 0, 1);
  t.bar.write(0x3000, 2, 0);
  assert.deepEqual(irq, ['msi fee00000:0:4022'], 'the queue vector, no INTx');

  irq.length = 0;
  t.bar.write(0x401c, 4, 1); // mask vector 1
  flushRequest(mem.ram, 1, 2);
  t.bar.write(0x3000, 2, 0);
  assert.equal(flushes, 2);
  assert.deepEqual(irq, [], 'masked: held back');
  assert.equal(t.bar.read(0x5000, 4), 0b10, 'PBA: vector 1 pending');
  t.bar.write(0x401c, 4, 0);
  assert.deepEqual(irq, ['msi fee00000:0:4022'], 'sent on unmask');
  assert.equal(t.bar.read(0x5000, 4), 0);

  irq.length = 0;
  t.pci.write(cap + 2, 2, 0xc000); // function mask
  flushRequest(mem.ram, 2, 3);
  t.bar.write(0x3000, 2, 0);
  assert.deepEqual(irq, []);
  t.pci.write(cap + 2, 2, 0x8000);
  assert.deepEqual(irq, ['msi fee00000:0:4022']);
});

test('MSI-X deliverable(): the same message object while the entry holds, a new one with the new values once it changes, none while masked', () => {
  const sink = { setIntx() {}, signalMsi() {} };
  const words = new Int32Array(new SharedArrayBuffer(4 * msixWords(2)));
  const mine = new MsixVectors(words, 2), theirs = new MsixVectors(words, 2); // the transport's and the device I/O's, on one array
  mine.reset();
  mine.setControl(0x8000, sink);
  mine.writeTable(16, 0xfee00000, sink); mine.writeTable(24, 0x4022, sink); mine.writeTable(28, 0, sink);
  const m = theirs.deliverable(1);
  assert.deepEqual(m, { addressLo: 0xfee00000, addressHi: 0, data: 0x4022 });
  assert.equal(theirs.deliverable(1), m, 'unchanged: the same object');
  mine.writeTable(24, 0x4023, sink); // the guest moves the interrupt: seen through the shared words
  const n = theirs.deliverable(1);
  assert.notEqual(n, m);
  assert.deepEqual(n, { addressLo: 0xfee00000, addressHi: 0, data: 0x4023 });
  assert.deepEqual(m, { addressLo: 0xfee00000, addressHi: 0, data: 0x4022 }, 'the old message is left as it was');
  mine.writeTable(28, 1, sink);
  assert.equal(theirs.deliverable(1), null, 'masked');
  assert.equal(theirs.deliverable(0), null, 'vector 0 was never unmasked');
});

test('guest memory scalars (what the rings use): little-endian, bounds-checked like every other access', () => {
  const size = 8192;
  const host = libc.mmap(size, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
  try {
    const m = new GuestMemory();
    m.add('ram', 0x1000, size, host);
    m.setU32(0x1000, 0x12345678);
    m.setU16(0x1004, 0xbeef);
    assert.equal(m.u16(0x1000), 0x5678);
    assert.equal(m.u32(0x1000), 0x12345678);
    assert.deepEqual([...m.read(0x1000, 6)], [0x78, 0x56, 0x34, 0x12, 0xef, 0xbe]);
    m.setU32(0x1008, 0x9abcdef0); m.setU32(0x100c, 0x1234);
    assert.equal(m.u64(0x1008), 0x1234_9abc_def0);
    for (const [gpa, read] of [[0x0fff, (g: number) => m.u16(g)], [0x1000 + size - 2, (g: number) => m.u32(g)], [-8, (g: number) => m.u64(g)]] as const) {
      assert.throws(() => read(gpa), GuestMemoryError, `0x${gpa.toString(16)}`);
    }
    assert.throws(() => m.setU16(0x1000 + size - 1, 1), GuestMemoryError);
  } finally {
    libc.munmap(host, size);
  }
});

test('virtio-pci: the read-only mirror of the common configuration always reads as the registers do', () => {
  const mirror = new Uint8Array(4096);
  const mem = fakeMemory();
  const t = new VirtioPciTransport(new VirtioPmem(0, 4096), { memory: mem, irq: { setIntx() {}, signalMsi() {} }, notify() {}, commonMirror: mirror });
  const same = (when: string) => {
    for (let off = 0; off < 0x38; off += 2) {
      assert.equal(new DataView(mirror.buffer).getUint16(off, true), t.bar.read(off, 2) & 0xffff, `${when}: offset 0x${off.toString(16)}`);
    }
  };
  same('at power-on');
  t.bar.write(0x00, 4, 1); // device feature select: the high half (VERSION_1)
  same('feature select 1');
  assert.ok(bringUp(t, VIRTIO_F_VERSION_1, { config: 0, queue: 1 }));
  same('driver OK');
  assert.equal(mirror[0x14], STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  t.broken('test');
  same('needs reset');
  assert.ok(mirror[0x14]! & STATUS.NEEDS_RESET);
  t.bar.write(0x14, 1, 0);
  same('after reset');
});
