// pmemvm's code runs unoptimized while the guest runs (Sparkplug, no TurboFan), where a number that
// is not a small integer is a new heap object at every step, and garbage on the flush path means
// scavenges inside the guest's flushes. What one virtio-pmem request costs on the parts that
// are pure (the queue as the transport publishes it, guest memory, the split ring; then the
// whole path from the notify's MMIO exit to the kernel answer's end), measured in a child node
// with pmemvm's V8 flags and a young generation too large to be collected meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { guestTimeV8Flags } from '../lib/v8-flags.js';

const at = (rel: string) => new URL(rel, import.meta.url).href;

// The guest's side, in the children below: flush requests as Linux makes them (a 4-byte type, then a
// 4-byte status), written into the rings through a DataView over guest RAM, which leaves no garbage.
const GUEST_DRIVER = `let avail = 0;
function desc(i, addr, flags, next) {
  const d = DESC - RAM + 16 * i;
  ram.setUint32(d, addr, true); ram.setUint32(d + 4, 0, true); ram.setUint32(d + 8, 4, true); ram.setUint16(d + 12, flags, true); ram.setUint16(d + 14, next, true);
}
/** Offer the next request (publish: false writes it all but the available index, which offers it). */
function request(publish = true) {
  const head = (2 * avail) % QSIZE;
  desc(head, REQ + 8 * head, 1, head + 1);
  desc(head + 1, REQ + 8 * head + 4, 2, 0);
  ram.setUint16(AVAIL - RAM + 4 + 2 * (avail % QSIZE), head, true);
  if (!publish) return;
  avail = (avail + 1) & 0xffff;
  ram.setUint16(AVAIL - RAM + 2, avail, true);
}
`;

// The queue alone: what the server does with a request (pop, read the type, answer, push).
const CHILD = `
import * as libc from '${at('../../src/sys/libc.js')}';
import { GuestMemory } from '${at('../../src/memory/guest-memory.js')}';
import { VirtioShared } from '${at('../../src/devices/virtio/shared.js')}';
import { SplitQueue } from '${at('../../src/devices/virtio/queue.js')}';
const RAM = 0x100000, SIZE = 0x10000, QSIZE = 16;
const DESC = RAM + 0x1000, AVAIL = RAM + 0x2000, USED = RAM + 0x3000, REQ = RAM + 0x4000;
const host = libc.mmap(SIZE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
const mem = new GuestMemory();
mem.add('ram', RAM, SIZE, host);
const ram = new DataView(libc.view(host, SIZE)); // the guest's side: writes that leave no garbage whatever pmemvm's code does
const shared = new VirtioShared(1, 2);
shared.locked(() => shared.publishQueue(0, { size: QSIZE, desc: DESC, avail: AVAIL, used: USED }));
const layout = shared.locked(() => shared.queue(0)); // the addresses as the server gets them
const q = new SplitQueue(mem, layout.size, layout.desc, layout.avail, layout.used);
${GUEST_DRIVER}
const used = { elem: 0, idx: 0, newIdx: 0 };
function serve() {
  const c = q.pop();
  const type = mem.u32(c.readable[0].addr);
  q.nextUsed(used);
  mem.setU32(c.writable[0].addr, type);
  q.push(c.head, 4);
  return used.newIdx + mem.u64(DESC + 16 * c.head) - c.readable[0].addr;
}
const N = 4000;
let check = 0;
for (let i = 0; i < 200; i++) { request(); check += serve(); }
const h0 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) request(false);
const h1 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) { request(); check += serve(); }
const h2 = process.memoryUsage().heapUsed;
console.log(JSON.stringify({ request: (h1 - h0) / N, serve: (h2 - h1) / N - (h1 - h0) / N, check }));
`;

test('a virtio-pmem request, unoptimized: the queue\'s walk and answer through guest memory leave no garbage (the chain is the queue\'s own), whatever the rings\' addresses went through', () => {
  const flags = [...guestTimeV8Flags(), '--min-semi-space-size=64', '--max-semi-space-size=64'];
  const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', CHILD], { encoding: 'utf8' });
  const r = JSON.parse(out) as { request: number; serve: number; check: number };
  assert.ok(Number.isFinite(r.check));
  assert.ok(r.request <= 16, `writing a request made ${r.request} bytes of garbage: the measure is off`);
  assert.ok(r.serve <= 8, `serving a request made ${r.serve} bytes of garbage (flags ${flags.join(' ')})`);
  console.log(`${Math.round(r.serve)} bytes of garbage per request served`);
});

// The whole of a flush in pmemvm's JavaScript, as one vCPU's machine serves it (RAM ending past
// 2 GiB): the guest's
// notify (an MMIO write to a BAR past 2 GiB, looked up by the exit's address halves, through
// the virtio-pci transport brought up as Linux does it, MSI-X on), the request server (pop, request type, kernel answer with the queue's MSI-X message), the host
// addresses of the answer's guest writes written into a prepared io_uring chain as the reactor
// and DeviceAnswers do, and the end of the answer (the used index moved on, the server ready
// for the next). Only the kernel's part (the submission and what it runs) is left out.
const SERVER_CHILD = `
import * as libc from '${at('../../src/sys/libc.js')}';
import { GuestMemory } from '${at('../../src/memory/guest-memory.js')}';
import { VirtioPciTransport, STATUS, VIRTIO_F_VERSION_1 } from '${at('../../src/devices/virtio/pci.js')}';
import { PmemRequestServer, VirtioPmem } from '${at('../../src/devices/virtio/pmem.js')}';
import { IoUring } from '${at('../../src/sys/io-uring.js')}';
import { IoBus } from '${at('../../src/devices/bus.js')}';
// RAM that ends past 2 GiB, as a 2 GiB guest's below-4G RAM does (the rings and buffers below it).
const RAM = 0x7fff0000, SIZE = 0x20000, QSIZE = 16;
const DESC = RAM + 0x1000, AVAIL = RAM + 0x2000, USED = RAM + 0x3000, REQ = RAM + 0x4000;
const BAR = 0xfe000000, NOTIFY = 0x3000, MSIX_TABLE = 0x4000;
const host = libc.mmap(SIZE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
const mem = new GuestMemory();
mem.add('ram', RAM, SIZE, host);
const ram = new DataView(libc.view(host, SIZE));
let raised = 0, server = null;
const sink = { setIntx() {}, signalMsi() { raised++; } };
const t = new VirtioPciTransport(new VirtioPmem(0x1_0000_0000, 64 << 20), { memory: mem, irq: sink, notify: () => server.service() });
const shared = t.shared;
// As Linux's virtio_pci_modern brings it up: features, one queue on vector 1, MSI-X on (config space), the table entry unmasked.
const w = (off, size, v) => t.bar.write(off, size, v);
w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
w(0x08, 4, 0); w(0x0c, 4, 0); w(0x08, 4, 1); w(0x0c, 4, Number(VIRTIO_F_VERSION_1 >> 32n));
w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
w(0x10, 2, 0); w(0x16, 2, 0); w(0x18, 2, QSIZE); w(0x1a, 2, 1);
w(0x20, 4, DESC); w(0x24, 4, 0); w(0x28, 4, AVAIL); w(0x2c, 4, 0); w(0x30, 4, USED); w(0x34, 4, 0);
w(0x1c, 2, 1);
w(0x14, 1, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
for (let cap = t.pci.read(0x34, 1); cap; cap = t.pci.read(cap + 1, 1)) if (t.pci.read(cap, 1) === 0x11) t.pci.write(cap + 3, 1, 0x80);
w(MSIX_TABLE + 16, 4, 0xfee00000); w(MSIX_TABLE + 20, 4, 0); w(MSIX_TABLE + 24, 4, 0x4041); w(MSIX_TABLE + 28, 4, 0);
const ring = new IoUring(8);
ring.prepare(() => { for (let k = 0; k < 8; k++) ring.read(-1, 0n, 4, 0, k); });
const where = new Int32Array(6), gate = new Int32Array(2);
let pending = null, routed = null, answers = 0;
const LANDED = Object.freeze({ error: null, landed: true, raise: false });
server = new PmemRequestServer({
  shared, memory: mem, irq: sink,
  flush: () => { throw new Error('not answered by the kernel'); },
  flushAndAnswer: (a, done) => {
    if (!mem.hostHalves(a.status, 4, where, 0) || !mem.hostHalves(a.elem, 8, where, 2) || !mem.hostHalves(a.idx, 2, where, 4)) return false;
    if (a.msi !== routed) { routed = a.msi; answers++; } // DeviceAnswers.route(): a new route only for a new message
    ring.setFd(0, 3);
    ring.nextResultAt(-1, gate, 0);
    ring.setAddr(1, gate, 0);
    ring.setAddr(2, where, 0);
    ring.setAddr(3, where, 2);
    ring.setAddr(4, where, 4);
    pending = done;
    return true;
  },
  onBroken: (m) => { throw new Error(m); },
});
const bus = new IoBus('mmio');
bus.register(0xfebf0000, 0x1000, { read: () => 0, write() {} }, 'other');
bus.register(BAR, t.barSize, t.bar, 'virtio-pmem');
bus.register(0xfec00000, 0x1000, { read: () => 0, write() {} }, 'ioapic');
bus.register(0xfed00000, 0x400, { read: () => 0, write() {} }, 'hpet');
const notifyBytes = new Uint8Array(2);
const NOTIFY_LO = (BAR + NOTIFY) | 0; // the exit's low half, as getInt32 reads it
${GUEST_DRIVER}
/** The guest's notify (the exit's address halves), then the kernel's answer ending. */
function flush() {
  bus.writeFromHalves(NOTIFY_LO, 0, notifyBytes);
  const done = pending;
  pending = null;
  done(LANDED);
  return where[0] ^ where[2] ^ gate[0]; // small integers: no garbage of the test's own
}
const N = 4000;
let check = 0;
for (let i = 0; i < 200; i++) { request(); check ^= flush(); }
const h0 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) request(false);
const h1 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) { request(); check ^= flush(); }
const h2 = process.memoryUsage().heapUsed;
console.log(JSON.stringify({ request: (h1 - h0) / N, serve: (h2 - h1) / N - (h1 - h0) / N, check, flushes: server.flushes, answers, raised }));
`;

test("a virtio-pmem flush, unoptimized, from the guest\'s notify to the kernel answer's end: no garbage (the chain, the answer, the message, the addresses are made once)", () => {
  const flags = [...guestTimeV8Flags(), '--min-semi-space-size=64', '--max-semi-space-size=64'];
  const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', SERVER_CHILD], { encoding: 'utf8' });
  const r = JSON.parse(out) as { request: number; serve: number; check: number; flushes: number; answers: number; raised: number };
  assert.ok(Number.isFinite(r.check));
  assert.equal(r.flushes, 4200, 'every request was answered by the "kernel"');
  assert.equal(r.answers, 1, 'one MSI-X message object for every flush (the vector did not change)');
  assert.equal(r.raised, 0, 'the kernel raised every interrupt');
  assert.ok(r.request <= 16, `writing a request made ${r.request} bytes of garbage: the measure is off`);
  assert.ok(r.serve <= 8, `a flush made ${r.serve} bytes of garbage (flags ${flags.join(' ')})`);
  console.log(`${Math.round(r.serve)} bytes of garbage per flush`);
});
