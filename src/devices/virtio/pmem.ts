/**
 * virtio-pmem (virtio 1.2, 5.19; device id 27): the backend is mapped into
 * the guest at `start`; the guest's flush requests make it durable.
 *
 * VirtioPmem is what the transport shows (id, features, configuration).
 * PmemRequestServer answers the request queue wherever device I/O runs
 * (pmem-io.ts: the main thread's io_uring, or the device I/O thread): each
 * request is one fsync of the backend, one at a time and answered in arrival
 * order, and its interrupt is raised only after the used ring says so. The
 * fsync runs off that thread, so neither it nor another device waits for the
 * disk. EIO and friends become ret = 1.
 */
import { GuestMemoryError } from '../../memory/guest-memory.js';
import type { IrqSink } from '../irq-sink.js';
import type { MsiMessage } from '../../kvm/irq-routes.js';
import { SplitQueue, VirtqueueError, type Chain, type QueueMemory, type UsedSlot } from './queue.js';
import type { VirtioDeviceModel } from './pci.js';
import type { VirtioShared } from './shared.js';

export const VIRTIO_ID_PMEM = 27;
const REQ_TYPE_FLUSH = 0;
const RET_OK = 0, RET_EIO = 1;
const QUEUE = 0;

export class VirtioPmem implements VirtioDeviceModel {
  readonly deviceId = VIRTIO_ID_PMEM;
  // QEMU's virtio-pmem-pci: PCI_CLASS_OTHERS (0xff) as the 16-bit class word, so base class 0x00, subclass 0xff.
  readonly pciClass = 0x00ff00;
  readonly features = 0n;
  readonly queueSizes = [128];
  readonly config = new Uint8Array(16);

  constructor(start: number, size: number) {
    const v = new DataView(this.config.buffer);
    v.setBigUint64(0, BigInt(start), true);
    v.setBigUint64(8, BigInt(size), true);
  }
}

export interface PmemServerOptions {
  shared: VirtioShared;
  memory: QueueMemory;
  /**
   * Make everything written to the backend durable (fsync), then call `done`, exactly once
   * (with the error if it failed). It may finish later, off this thread (the thread goes on
   * serving other devices meanwhile), or at once.
   */
  flush: (done: (error: Error | null) => void) => void;
  /**
   * Optional, and preferred where it exists: the fsync, then the answer (status RET_OK, used
   * element, used index, the queue's MSI) written by the kernel once the fsync succeeds, with
   * no return to this thread for it. Returns false when it cannot take this request (flush()
   * then does). `done` comes exactly once, when that is over. The answer is the server's own
   * object, rewritten for the next request: read it within the call.
   */
  flushAndAnswer?: (answer: KernelAnswer, done: (o: AnswerOutcome) => void) => boolean;
  /** The server waits for the answer in hand (a request came meanwhile, or stop()): call done without delay. */
  hurry?: () => void;
  irq: IrqSink;
  /** A request pmemvm answered with an error, or a failed flush, for the log. */
  onError?: (message: string) => void;
  /** The rings are unusable: the transport marks the device as needing reset. */
  onBroken: (message: string) => void;
}

/** What the kernel writes for a request answered without this thread (guest addresses, then values). */
export interface KernelAnswer extends UsedSlot {
  status: number;
  head: number;
  msi: MsiMessage;
}

/**
 * How a kernel answer ended. `landed`: all of it is in guest RAM (`raise`: but not its
 * interrupt, which the server raises). Otherwise none or part of it is, and the server
 * answers itself: RET_OK unless the fsync failed (`error`).
 */
export interface AnswerOutcome { error: Error | null; landed: boolean; raise: boolean }

const bytes = (bufs: readonly { len: number }[]) => { let n = 0; for (let i = 0; i < bufs.length; i++) n += bufs[i]!.len; return n; };
const le32 = (b: Uint8Array) => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;

/**
 * The request the server has handed to the host's fsync, answered when that returns (by the
 * kernel: `kernel`). One object per server, rewritten for each request, as is the chain (the
 * queue's own): one request is in hand at a time, and the next is popped only after it is
 * answered. pmemvm's code runs unoptimized, where each object made per flush is garbage, and
 * the scavenges it adds up to land inside the guest's flushes.
 */
interface InHand { q: SplitQueue | null; gen: number; chain: Chain | null; kernel: boolean }

export class PmemRequestServer {
  private queue: SplitQueue | null = null;
  private gen = 0;
  /** A generation whose rings proved bad: not served again until the driver resets. */
  private deadGen: number | null = null;
  /** The flush being made durable: one at a time, so requests are answered in arrival order. */
  private inHand: InHand | null = null;
  private readonly hand: InHand = { q: null, gen: 0, chain: null, kernel: false };
  /** The kernel answer handed to flushAndAnswer, rewritten for each request. */
  private readonly kernelAnswerObject: KernelAnswer = { status: 0, elem: 0, idx: 0, head: 0, newIdx: 0, msi: { addressLo: 0, addressHi: 0, data: 0 } };
  /** flush()'s and flushAndAnswer()'s callbacks, made once. */
  private readonly onFlushed = (error: Error | null): void => this.flushed(error);
  private readonly onAnswered = (o: AnswerOutcome): void => this.flushed(o.error, o.landed ? o.raise : null);
  /** Inside the flush() call: a flush that finishes at once must not start service() again from within. */
  private starting = false;
  private stopping = false;
  private onIdle: (() => void) | null = null;
  /** Host fsyncs done for the guest. */
  flushes = 0;

  constructor(private readonly o: PmemServerOptions) {}

  /** Answer the requests the driver has made available (called after each notify and after each flush). */
  service(): void {
    if (this.inHand) { // the flush in hand comes first; service() runs again after it
      if (this.inHand.kernel) this.o.hurry?.();
      return;
    }
    if (this.stopping) return;
    for (;;) {
      const q = this.currentQueue();
      if (!q) return;
      let chain: Chain | null;
      let type: number | null;
      try {
        chain = q.pop();
        if (!chain) return;
        type = this.requestType(q, chain);
      } catch (e) {
        return this.broken(e);
      }
      if (type === REQ_TYPE_FLUSH) {
        const hand = this.hand;
        hand.q = q; hand.gen = this.gen; hand.chain = chain; hand.kernel = false;
        this.inHand = hand;
        this.starting = true;
        try {
          const answer = this.kernelAnswer(q, chain);
          hand.kernel = answer !== null; // before the call: its done() may come from within
          if (answer && !this.o.flushAndAnswer!(answer, this.onAnswered)) hand.kernel = false;
          if (!hand.kernel) this.o.flush(this.onFlushed);
        } catch (e) {
          this.flushed(e as Error);
        } finally {
          this.starting = false;
        }
        if (this.inHand !== null) {
          // Answered when the fsync returns. Requests already waiting behind an answer from the
          // kernel need its end watched: their notifies came before it started, and no other may come.
          if (hand.kernel && this.waiting(q)) this.o.hurry?.();
          return;
        }
        continue; // flushed() ran inside flush(): carry on without recursing
      }
      const err = this.answer(q, this.gen, chain, RET_EIO);
      if (err) return this.broken(err);
    }
  }

  /**
   * Serve no more requests; `onIdle` runs once the flush in hand (if any) is
   * answered. What the driver offers after that stays in the ring.
   */
  stop(onIdle: () => void): void {
    this.stopping = true;
    if (!this.inHand) return onIdle();
    this.onIdle = onIdle;
    if (this.inHand.kernel) this.o.hurry?.();
  }

  /**
   * What the kernel would write to answer `chain` with RET_OK, or null if it cannot: no
   * kernel answers here, a status buffer split in pieces, or an interrupt that is not one
   * unmasked MSI-X message now (INTx, a masked vector, a pending bit to keep).
   */
  private kernelAnswer(q: SplitQueue, chain: Chain): KernelAnswer | null {
    const status = chain.writable[0];
    if (!this.o.flushAndAnswer || !status || status.len < 4) return null;
    const sh = this.o.shared;
    let msi: MsiMessage | null;
    sh.lock(); // not locked(() => ...): no closure made per flush
    try { msi = sh.msix.deliverable(sh.queueVector(QUEUE)); } finally { sh.unlock(); }
    if (!msi) return null;
    const a = this.kernelAnswerObject;
    q.nextUsed(a);
    a.status = status.addr;
    a.head = chain.head;
    a.msi = msi;
    return a;
  }

  /** The flush in hand ended. `raise`: the kernel wrote the answer (null: the server writes it), and the interrupt is still to be raised. */
  private flushed(error: Error | null, raise: boolean | null = null): void {
    const hand = this.inHand;
    if (!hand) return; // nothing in hand (the callbacks are called once per flush)
    let ret = RET_OK;
    if (error) {
      this.o.onError?.(`virtio-pmem: flush failed: ${error.message}`);
      ret = RET_EIO;
    } else {
      this.flushes++;
    }
    this.inHand = null;
    const err = raise !== null ? this.answered(hand.q!, hand.gen, raise) : this.answer(hand.q!, hand.gen, hand.chain!, ret);
    if (err) this.broken(err);
    if (this.stopping) {
      const idle = this.onIdle;
      this.onIdle = null;
      idle?.();
      return;
    }
    // Inside flush() itself, service()'s loop goes on; from a callback, start it again.
    if (!this.starting) this.service();
  }

  /** The queue as published now; a new generation (reset, re-enable) starts a fresh view. */
  private currentQueue(): SplitQueue | null {
    if (this.queue && this.o.shared.current(QUEUE, this.gen)) return this.queue; // the usual case, without the lock
    return this.newQueue();
  }

  /**
   * currentQueue()'s slow path, apart: a function holding an arrow function that uses `this`
   * makes a context object at every call, taken or not (unoptimized code), and currentQueue()
   * runs twice per flush.
   */
  private newQueue(): SplitQueue | null {
    const layout = this.o.shared.locked(() => this.o.shared.queue(QUEUE));
    if (!layout || layout.gen === this.deadGen) { this.queue = null; return null; }
    if (this.queue && layout.gen === this.gen) return this.queue;
    try {
      this.queue = new SplitQueue(this.o.memory, layout.size, layout.desc, layout.avail, layout.used);
      this.gen = layout.gen;
    } catch (e) {
      this.gen = layout.gen;
      this.broken(e);
    }
    return this.queue;
  }

  /** The driver offered more requests (false if the ring is unreadable: the next pop says why). */
  private waiting(q: SplitQueue): boolean {
    try { return q.hasAvailable(); } catch { return false; }
  }

  /** The request's type, or null for a malformed request (logged; answered with an error). */
  private requestType(q: SplitQueue, chain: Chain): number | null {
    if (bytes(chain.readable) < 4 || bytes(chain.writable) < 4) {
      this.o.onError?.('virtio-pmem: request without a 4-byte device-readable type and a 4-byte device-writable status; answered with an error');
      return null;
    }
    // Linux puts the whole request in one buffer: read it in place (no garbage on the flush path).
    const first = chain.readable[0]!;
    const type = first.len >= 4 ? this.o.memory.u32(first.addr) : le32(q.gather(chain, 4));
    if (type !== REQ_TYPE_FLUSH) this.o.onError?.(`virtio-pmem: unknown request type ${type}`);
    return type;
  }

  /** Status, used ring, interrupt, as one step under the lock; dropped if the driver reset the queue meanwhile. */
  private answer(q: SplitQueue, gen: number, chain: Chain, ret: number): Error | null {
    const sh = this.o.shared;
    sh.lock();
    try {
      if (!sh.current(QUEUE, gen)) return null;
      const status = chain.writable[0];
      let written = 0;
      if (status && status.len >= 4) { this.o.memory.setU32(status.addr, ret); written = 4; }
      else if (status) written = q.scatter(chain, Uint8Array.of(ret, 0, 0, 0));
      q.push(chain.head, written);
      sh.interruptQueue(QUEUE, this.o.irq);
      return null;
    } catch (e) {
      return e as Error;
    } finally {
      sh.unlock();
    }
  }

  /** The kernel wrote the answer: the next one goes after it; the interrupt, if it did not go out. */
  private answered(q: SplitQueue, gen: number, raise: boolean): Error | null {
    q.pushedElsewhere();
    if (!raise) return null;
    const sh = this.o.shared;
    sh.lock();
    try {
      if (sh.current(QUEUE, gen)) sh.interruptQueue(QUEUE, this.o.irq);
      return null;
    } catch (e) {
      return e as Error;
    } finally {
      sh.unlock();
    }
  }

  private broken(e: unknown): void {
    if (!(e instanceof VirtqueueError || e instanceof GuestMemoryError)) throw e;
    this.queue = null;
    this.deadGen = this.gen;
    this.o.onBroken(e.message);
  }
}
