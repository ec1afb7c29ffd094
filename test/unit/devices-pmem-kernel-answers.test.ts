// virtio-pmem flushes answered by the kernel (pmem-reactor.ts): the fsync linked to the
// status, used element and used index writes and to the irqfd, with a real KVM VM (its GSI
// routes and irqfds), a real io_uring and real files; guest RAM is an anonymous mapping. No
// vCPU: what is checked is what lands in guest memory and in the MSI-X state, and that
// the main thread had no part in an answer that succeeded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as libc from '../../src/sys/libc.js';
import { KvmSystem } from '../../src/kvm/system.js';
import { Vm } from '../../src/kvm/vm.js';
import { irqfdSupported } from '../../src/kvm/irq-routes.js';
import { KVM } from '../../src/sys/kvm-abi.js';
import { signalMsi } from '../../src/kvm/irq.js';
import type { IrqSink } from '../../src/devices/irq-sink.js';
import { PmemIoReactor } from '../../src/devices/virtio/pmem-reactor.js';
import type { PmemIoDevice } from '../../src/devices/virtio/pmem-io.js';
import { VirtioShared } from '../../src/devices/virtio/shared.js';

const RAM_GPA = 0x100000, RAM_SIZE = 0x10000;
const DESC = RAM_GPA + 0x1000, AVAIL = RAM_GPA + 0x2000, USED = RAM_GPA + 0x3000, REQ = RAM_GPA + 0x4000, RESP = RAM_GPA + 0x4100;
const QSIZE = 16;
const F_NEXT = 1, F_WRITE = 2;
const VECTOR = 0x41, MASKED_VECTOR = 0x52;

function kvmVm(): { vm: Vm; vcpuFd: number } {
  let kvm: KvmSystem;
  try {
    kvm = new KvmSystem();
  } catch (e) {
    throw new Error(`this test needs /dev/kvm (run it in the test host: node dist/testhost/entry.js run -- node --test ${process.argv[1] ?? ''}): ${(e as Error).message}`);
  }
  assert.ok(irqfdSupported(kvm.fd), 'KVM takes MSI routes and irqfds');
  const vm = new Vm(kvm);
  // A vCPU that never runs, its local APIC enabled (SVR bit 8): an MSI to APIC id 0, from the
  // kernel's irqfd or from pmemvm, stays in its IRR, where the test can see it.
  const vcpuFd = libc.ioctl(vm.fd, KVM.CREATE_VCPU, 0);
  const lapic = new Uint8Array(1024);
  libc.ioctlBuf(vcpuFd, KVM.GET_LAPIC, lapic);
  const v = new DataView(lapic.buffer);
  v.setUint32(0xf0, v.getUint32(0xf0, true) | 0x100, true);
  libc.ioctlBuf(vcpuFd, KVM.SET_LAPIC, lapic);
  return { vm, vcpuFd };
}

/** The vector is requested in vCPU 0's local APIC (its IRR). */
function requested(vector: number): boolean {
  const lapic = new Uint8Array(1024);
  libc.ioctlBuf(vcpuFd, KVM.GET_LAPIC, lapic);
  return (new DataView(lapic.buffer).getUint32(0x200 + 0x10 * (vector >> 5), true) & (1 << (vector & 31))) !== 0;
}

/** One device with its queue set up as Linux's driver leaves it: MSI-X on, vector 0 unmasked. */
class Rig {
  readonly ram = libc.mmap(RAM_SIZE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
  readonly mem = new DataView(libc.view(this.ram, RAM_SIZE));
  readonly shared = new VirtioShared(1, 2);
  readonly notifyFd = libc.eventfd(libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
  readonly errors: string[] = [];
  readonly dev: PmemIoDevice;
  private avail = 0;

  /** What the transport does with an MSI it sends itself (an unmask releasing a pending bit). */
  private readonly sink: IrqSink;

  constructor(reactor: PmemIoReactor, vm: Vm, backendFd: number, vector = VECTOR) {
    this.sink = { setIntx: () => {}, signalMsi: (lo, hi, data) => signalMsi(vm.fd, lo, hi, data) };
    this.shared.locked(() => {
      this.shared.publishQueue(0, { size: QSIZE, desc: DESC, avail: AVAIL, used: USED });
      this.shared.msix.setControl(0x8000, this.sink); // enabled
      this.shared.msix.writeTable(0, 0xfee00000, this.sink); // APIC id 0, fixed delivery
      this.shared.msix.writeTable(8, vector, this.sink);
      this.shared.msix.writeTable(12, 0, this.sink); // unmasked
      this.shared.setQueueVector(0, 0);
    });
    const fatal = (m: string) => { this.errors.push(`fatal: ${m}`); };
    this.dev = reactor.add({
      sab: this.shared.sab, queues: 1, vectors: 2, regions: [{ name: 'ram', gpa: RAM_GPA, size: RAM_SIZE, hostAddr: this.ram }],
      backendFd, notifyFd: this.notifyFd, vmFd: vm.fd, intxGsi: 5,
    }, { onError: (m) => this.errors.push(m), onBroken: fatal, onFatal: fatal }, vm.irqRoutes);
  }

  private at(gpa: number): number { return gpa - RAM_GPA; }

  /** Offer one flush request (head descriptor 2n) with its status preset to `stale`, and notify. */
  request(stale = 0xdead): number {
    const head = (2 * this.avail) % QSIZE;
    const d = (i: number, addr: number, len: number, flags: number, next: number) => {
      const o = this.at(DESC) + 16 * i;
      this.mem.setBigUint64(o, BigInt(addr), true);
      this.mem.setUint32(o + 8, len, true);
      this.mem.setUint16(o + 12, flags, true);
      this.mem.setUint16(o + 14, next, true);
    };
    d(head, REQ + 8 * head, 4, F_NEXT, head + 1);
    d(head + 1, RESP + 8 * head, 4, F_WRITE, 0);
    this.mem.setUint32(this.at(REQ + 8 * head), 0, true); // VIRTIO_PMEM_REQ_TYPE_FLUSH
    this.mem.setUint32(this.at(RESP + 8 * head), stale, true);
    this.mem.setUint16(this.at(AVAIL + 4 + 2 * (this.avail % QSIZE)), head, true);
    this.avail++;
    this.mem.setUint16(this.at(AVAIL + 2), this.avail & 0xffff, true);
    this.dev.notify();
    return head;
  }

  usedIdx(): number { return this.mem.getUint16(this.at(USED + 2), true); }
  usedElem(i: number): [number, number] {
    const o = this.at(USED + 4 + 8 * (i % QSIZE));
    return [this.mem.getUint32(o, true), this.mem.getUint32(o + 4, true)];
  }
  status(head: number): number { return this.mem.getUint32(this.at(RESP + 8 * head), true); }
  pending(): number { return this.shared.locked(() => this.shared.msix.readPba(0)); }

  setMasked(masked: boolean): void {
    this.shared.locked(() => this.shared.msix.writeTable(12, masked ? 1 : 0, this.sink));
    this.dev.interruptsChanged();
  }

  /** Remove the device (after its answers), then free its RAM. */
  async close(): Promise<void> {
    await this.dev.remove();
    libc.close(this.notifyFd);
    libc.munmap(this.ram, RAM_SIZE);
  }
}

/** Wait, blocking this thread (no event-loop turn, so no JavaScript of pmemvm's runs), until `cond` or `ms`. */
function spinUntil(cond: () => boolean, ms: number): boolean {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (cond()) return true;
    Atomics.wait(nap, 0, 0, 1); // leave the CPU to the kernel's io_uring worker
  }
  return cond();
}

/** Wait with event-loop turns (pmemvm's completions are served) until `cond` or `ms`. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}

function backend(): { fd: number; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-ka-'));
  const fd = openSync(join(dir, 'b.img'), 'w+');
  writeSync(fd, Buffer.alloc(4096, 7));
  return { fd, done: () => { closeSync(fd); rmSync(dir, { recursive: true, force: true }); } };
}

process.env.PMEMVM_FLUSH_ANSWERS = 'kernel'; // the default, said here so that the environment cannot change it
const { vm, vcpuFd } = kvmVm();
const reactor = new PmemIoReactor();

test('kernel answers: a flush lands (status 0, used element, used index) with no JavaScript run after the notify, and the next request ends it', async () => {
  const b = backend();
  const rig = new Rig(reactor, vm, b.fd);
  try {
    const head = rig.request();
    assert.ok(spinUntil(() => rig.usedIdx() === 1, 10_000), `used index ${rig.usedIdx()} after 10 s without an event-loop turn`);
    assert.deepEqual({ status: rig.status(head), elem: rig.usedElem(0), pending: rig.pending() }, { status: 0, elem: [head, 4], pending: 0 });
    // The server learns of that answer only now, and puts the next one after it.
    const second = rig.request();
    assert.ok(spinUntil(() => rig.usedIdx() === 2, 10_000), 'the second answer lands too');
    assert.deepEqual({ status: rig.status(second), elem: rig.usedElem(1) }, { status: 0, elem: [second, 4] });
    assert.equal(await rig.dev.remove(), 2, 'two host fsyncs');
    assert.deepEqual(rig.errors, []);
  } finally {
    await rig.close();
    b.done();
  }
});

test('kernel answers: requests made while the answer before them is in flight (a slow fsync: 32 MiB dirty) wait for it and are answered in order', async () => {
  const b = backend();
  const rig = new Rig(reactor, vm, b.fd);
  try {
    const heads: number[] = [];
    for (let round = 0; round < 3; round++) {
      writeSync(b.fd, Buffer.alloc(32 << 20, round + 1), 0, 32 << 20, 4096); // what the next fsync must write out
      heads.push(rig.request());
      heads.push(rig.request()); // the first one's fsync is still running: this one waits for its end (`done` polled)
    }
    assert.ok(await until(() => rig.usedIdx() === 6, 60_000), `used index ${rig.usedIdx()} of 6`);
    assert.deepEqual(heads.map((h, i) => [rig.status(h), rig.usedElem(i)]), heads.map((h) => [0, [h, 4]]));
    assert.equal(await rig.dev.remove(), 6);
    assert.deepEqual(rig.errors, []);
  } finally {
    await rig.close();
    b.done();
  }
});

test('kernel answers: a vector masked while the flush is in flight: its interrupt is sent once, by the irqfd before the mask or as a pending bit sent at unmask', async () => {
  const b = backend();
  const rig = new Rig(reactor, vm, b.fd, MASKED_VECTOR);
  try {
    rig.request();
    rig.setMasked(true); // the irqfd leaves KVM at once; the answer's end is watched
    // Whichever came first, the kernel's interrupt write or the mask, decides where the interrupt is.
    assert.ok(await until(() => rig.usedIdx() === 1 && (requested(MASKED_VECTOR) || rig.pending() === 1), 10_000),
      `used index ${rig.usedIdx()}, pending bits ${rig.pending()}`);
    await until(() => false, 300); // and nothing else comes after it
    const sent = requested(MASKED_VECTOR), pending = rig.pending() === 1;
    console.log(`# the masked answer's interrupt: ${pending ? 'held as the pending bit' : 'sent by the irqfd before the mask'}`);
    assert.notEqual(sent, pending, `exactly one of: sent (${sent}), pending (${pending})`);
    rig.setMasked(false);
    assert.deepEqual({ pending: rig.pending(), sent: requested(MASKED_VECTOR) }, { pending: 0, sent: true }, 'sent at unmask');
    // Unmasked again: the next answer is routed again and lands the same way.
    rig.request();
    assert.ok(spinUntil(() => rig.usedIdx() === 2, 10_000), 'the next answer from the kernel');
    assert.equal(rig.pending(), 0);
    assert.equal(await rig.dev.remove(), 2);
    assert.deepEqual(rig.errors, []);
  } finally {
    await rig.close();
    b.done();
  }
});

test('kernel answers: a failed fsync cancels the rest (nothing written by the kernel) and the request is answered with an error', async () => {
  const [r, w] = libc.pipe(); // fsync of a pipe fails (EINVAL)
  const rig = new Rig(reactor, vm, w);
  try {
    const head = rig.request();
    assert.ok(await until(() => rig.usedIdx() === 1, 10_000), 'answered');
    assert.deepEqual({ status: rig.status(head), elem: rig.usedElem(0) }, { status: 1, elem: [head, 4] }, 'VIRTIO_PMEM_RESP_TYPE_EIO');
    assert.equal(rig.errors.length, 1, rig.errors.join('\n'));
    assert.match(rig.errors[0]!, /flush failed: .*EINVAL/);
    assert.equal(await rig.dev.remove(), 0, 'no fsync succeeded');
  } finally {
    await rig.close();
    libc.close(r);
    libc.close(w);
  }
});

test('kernel answers: before a queue is withdrawn (reset), the answer in flight lands; the next one is answered from user space', async () => {
  const b = backend();
  const rig = new Rig(reactor, vm, b.fd);
  try {
    const head = rig.request();
    rig.dev.quiesce();
    // quiesce() returned: what the kernel writes is in memory already, not after a reset.
    assert.deepEqual({ used: rig.usedIdx(), status: rig.status(head) }, { used: 1, status: 0 });
    assert.equal(await rig.dev.remove(), 1);
  } finally {
    await rig.close();
    b.done();
  }
});

test('kernel answers: a reset while a failing flush is in flight waits for it, which the server answers with an error', async () => {
  const [r, w] = libc.pipe();
  const rig = new Rig(reactor, vm, w);
  try {
    const head = rig.request();
    rig.dev.quiesce();
    assert.deepEqual({ used: rig.usedIdx(), status: rig.status(head) }, { used: 1, status: 1 });
    assert.equal(rig.errors.length, 1, rig.errors.join('\n'));
  } finally {
    await rig.close();
    libc.close(r);
    libc.close(w);
  }
});
