/**
 * What a virtio-pci function shares between the main thread (the transport:
 * feature negotiation, queue setup, reset, MSI-X table) and the thread that
 * serves its queues (pops requests, writes answers, raises interrupts): the
 * published queue layouts, the ISR, the MSI-X vectors and one lock, in a
 * SharedArrayBuffer.
 *
 * The lock makes "is this queue still the one I popped from?" and "write
 * the answer, raise the interrupt" one step: after a reset returns, no answer
 * for the old rings can land in guest memory, and interrupt state (ISR and
 * INTx level, MSI-X mask and pending bits) never tears.
 */
import type { IrqSink } from '../irq-sink.js';
import { MsixVectors, msixWords } from '../pci/msix.js';
import { fromHalves } from '../../sys/u64-halves.js';

export const NO_VECTOR = 0xffff;

/** A queue as the driver set it up, published when it is enabled and the driver is OK. */
export interface QueueLayout {
  /** Bumped at every publish or withdrawal: work popped under an older one is dropped. */
  gen: number;
  size: number;
  desc: number;
  avail: number;
  used: number;
}

const LOCK = 0, STOP = 1, ISR = 2, CONFIG_VECTOR = 3, HEADER = 8;
const Q_GEN = 0, Q_READY = 1, Q_SIZE = 2, Q_VECTOR = 3, Q_DESC = 4, Q_AVAIL = 6, Q_USED = 8, Q_WORDS = 12;
const ISR_QUEUE = 1, ISR_CONFIG = 2;

const words = (queues: number, vectors: number) => HEADER + Q_WORDS * queues + msixWords(vectors);

export class VirtioShared {
  readonly sab: SharedArrayBuffer;
  private readonly w: Int32Array;
  readonly msix: MsixVectors;

  constructor(readonly queues: number, readonly vectors: number, sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(4 * words(queues, vectors));
    this.w = new Int32Array(this.sab);
    if (this.w.length < words(queues, vectors)) throw new RangeError('virtio shared state too small');
    this.msix = new MsixVectors(this.w.subarray(HEADER + Q_WORDS * queues), vectors);
    if (!sab) {
      this.msix.reset();
      this.w[CONFIG_VECTOR] = NO_VECTOR;
      for (let i = 0; i < queues; i++) this.w[this.q(i) + Q_VECTOR] = NO_VECTOR;
    }
  }

  lock(): void {
    while (Atomics.compareExchange(this.w, LOCK, 0, 1) !== 0) Atomics.wait(this.w, LOCK, 1, 1);
  }
  unlock(): void {
    Atomics.store(this.w, LOCK, 0);
    Atomics.notify(this.w, LOCK, 1);
  }
  locked<T>(f: () => T): T {
    this.lock();
    try { return f(); } finally { this.unlock(); }
  }

  /** Asks the queue thread to end (it checks after each wake-up). */
  get stopping(): boolean { return Atomics.load(this.w, STOP) !== 0; }
  stop(): void { Atomics.store(this.w, STOP, 1); }

  private q(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.queues) throw new RangeError(`queue ${i}`);
    return HEADER + Q_WORDS * i;
  }
  // A value below 4 GiB comes back as lo alone: (unoptimized) hi * 2^32 + lo would be a heap
  // number even for a small ring address, and every sum made from it on the flush path another.
  private get64(at: number): number {
    return fromHalves(this.w[at]! >>> 0, this.w[at + 1]! >>> 0);
  }
  private set64(at: number, v: number): void { this.w[at] = v % 2 ** 32 | 0; this.w[at + 1] = Math.floor(v / 2 ** 32) | 0; }

  // ---- with the lock held ----

  /** Publish queue `i` (or withdraw it with null); returns the new generation. */
  publishQueue(i: number, layout: Omit<QueueLayout, 'gen'> | null): number {
    const at = this.q(i);
    const gen = (this.w[at + Q_GEN]! + 1) | 0;
    this.w[at + Q_GEN] = gen;
    this.w[at + Q_READY] = layout ? 1 : 0;
    if (layout) {
      this.w[at + Q_SIZE] = layout.size;
      this.set64(at + Q_DESC, layout.desc);
      this.set64(at + Q_AVAIL, layout.avail);
      this.set64(at + Q_USED, layout.used);
    }
    return gen;
  }

  /** Queue `i` if it is live, with its generation. */
  queue(i: number): QueueLayout | null {
    const at = this.q(i);
    if (!this.w[at + Q_READY]) return null;
    return {
      gen: this.w[at + Q_GEN]!, size: this.w[at + Q_SIZE]!,
      desc: this.get64(at + Q_DESC), avail: this.get64(at + Q_AVAIL), used: this.get64(at + Q_USED),
    };
  }
  /** True while queue `i` is live under generation `gen` (also safe without the lock, as a hint). */
  current(i: number, gen: number): boolean {
    const at = this.q(i);
    return Atomics.load(this.w, at + Q_READY) === 1 && Atomics.load(this.w, at + Q_GEN) === gen;
  }

  queueVector(i: number): number { return this.w[this.q(i) + Q_VECTOR]!; }
  setQueueVector(i: number, v: number): void { this.w[this.q(i) + Q_VECTOR] = v; }
  get configVector(): number { return this.w[CONFIG_VECTOR]!; }
  set configVector(v: number) { this.w[CONFIG_VECTOR] = v; }

  /** Queue `i` has used buffers: its MSI-X vector, or ISR bit 0 and INTx. */
  interruptQueue(i: number, sink: IrqSink): void {
    if (!this.msix.fire(this.queueVector(i), sink)) this.intx(ISR_QUEUE, sink);
  }
  /** The configuration (or device status) changed. */
  interruptConfig(sink: IrqSink): void {
    if (!this.msix.fire(this.configVector, sink)) this.intx(ISR_CONFIG, sink);
  }
  private intx(bit: number, sink: IrqSink): void {
    this.w[ISR] = this.w[ISR]! | bit;
    sink.setIntx(true);
  }
  /** The driver read ISR: it learns the causes, and the line drops. */
  takeIsr(sink: IrqSink): number {
    const v = this.w[ISR]!;
    this.w[ISR] = 0;
    sink.setIntx(false);
    return v;
  }
}
