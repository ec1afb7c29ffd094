/**
 * NVDIMM flush hints (-device nvdimm,flush-hint=on): a guest write to a DIMM's
 * hint address returns only once the DIMM's backend is durable (fdatasync).
 * Decided in the vCPU thread that exits, like the PCI config fast path: a
 * worker vCPU flushes itself (blocking only that vCPU); vCPU 0, which shares
 * the main thread with every device model, hands the fdatasync to libuv's
 * thread pool and stays out of KVM_RUN until it is done.
 *
 * State shared by every vCPU thread, per memory slot: the backend's fd, and
 * group commit through generation counters. A flush takes the slot's lock,
 * bumps STARTED and syncs; when it ends DONE = its generation. A request
 * needs a flush that started after it: generation STARTED + 1 as read at the
 * request (the guest's data was written before its write to the hint). So
 * vCPUs that ask while a flush runs wait for it, then share the next one.
 */
import * as fs from 'node:fs';
import * as libc from '../sys/libc.js';
import { FLUSH_HINT_PAGE, FLUSH_HINT_PAGE_SIZE, FLUSH_HINT_STRIDE } from '../boot/layout.js';

export const FLUSH_HINT_SLOTS = FLUSH_HINT_PAGE_SIZE / FLUSH_HINT_STRIDE;
const HINT_PAGE_END = FLUSH_HINT_PAGE + FLUSH_HINT_PAGE_SIZE;
/** Words per slot: FD holds fd + 1 (0: no hint here; NOOP: a hint with nothing to flush). */
const FD = 0, STARTED = 1, DONE = 2, LOCK = 3, ERRORS = 4, LAST_ERRNO = 5, FLUSHES = 6, REQUESTS = 7, WORDS = 8;
const NOOP = -1;

/** A request's outcome for the thread that made it: 0, or the errno of the flush this thread ran and saw fail. */
export type FlushResult = number;

export class FlushHintTable {
  private readonly w: Int32Array;
  constructor(readonly sab = new SharedArrayBuffer(FLUSH_HINT_SLOTS * WORDS * 4)) {
    this.w = new Int32Array(sab);
  }

  /** Give a slot a hint: `fd` is fdatasync()ed per guest flush; -1: nothing to flush (the write only exits). */
  attach(slot: number, fd: number): void {
    this.checkSlot(slot);
    Atomics.store(this.w, slot * WORDS + FD, fd < 0 ? NOOP : fd + 1);
  }

  detach(slot: number): void {
    this.checkSlot(slot);
    Atomics.store(this.w, slot * WORDS + FD, 0);
  }

  /** The slot whose hint `addr` falls on, or null if it is not in the hint page. */
  static slotAt(addr: number): number | null {
    // Compared before subtracting: every MMIO exit comes here, and (unoptimized) a difference of
    // two numbers past 31 bits is a new heap object.
    if (addr < FLUSH_HINT_PAGE || addr >= HINT_PAGE_END) return null;
    return Math.floor((addr - FLUSH_HINT_PAGE) / FLUSH_HINT_STRIDE);
  }

  /** True if this slot has a hint (a write there is a flush request). */
  has(slot: number): boolean { return Atomics.load(this.w, slot * WORDS + FD) !== 0; }

  errors(slot: number): number { return Atomics.load(this.w, slot * WORDS + ERRORS); }
  lastErrno(slot: number): number { return Atomics.load(this.w, slot * WORDS + LAST_ERRNO); }
  /** fdatasync calls made for this slot, and guest requests (hint writes) seen. */
  flushes(slot: number): number { return Atomics.load(this.w, slot * WORDS + FLUSHES); }
  requests(slot: number): number { return Atomics.load(this.w, slot * WORDS + REQUESTS); }

  /**
   * A worker vCPU's request: returns once a flush that started after this
   * call has ended. Blocks the calling thread (only use off the main thread).
   */
  flushSync(slot: number): FlushResult {
    const b = slot * WORDS, w = this.w;
    const target = this.request(b);
    if (target === null) return 0;
    let failed = 0;
    for (;;) {
      const done = Atomics.load(w, b + DONE);
      if (((done - target) | 0) >= 0) return failed;
      const gen = this.begin(b);
      if (gen === null) { Atomics.wait(w, b + DONE, done, 1000); continue; }
      const fd = Atomics.load(w, b + FD) - 1;
      const r = fd >= 0 ? libc.fdatasyncRaw(fd) : 0;
      if (r < 0) failed = -r;
      this.end(b, gen, -r);
    }
  }

  /**
   * vCPU 0's request, from the main thread: the same rule, without blocking
   * the event loop (the fdatasync runs in libuv's thread pool).
   */
  async flushAsync(slot: number): Promise<FlushResult> {
    const b = slot * WORDS, w = this.w;
    const target = this.request(b);
    if (target === null) return 0;
    let failed = 0;
    for (;;) {
      const done = Atomics.load(w, b + DONE);
      if (((done - target) | 0) >= 0) return failed;
      const gen = this.begin(b);
      if (gen === null) {
        const r = Atomics.waitAsync(w, b + DONE, done, 1000);
        if (r.async) await r.value;
        continue;
      }
      const fd = Atomics.load(w, b + FD) - 1;
      const errno = fd >= 0 ? await new Promise<number>((res) => fs.fdatasync(fd, (e) => res(e ? errnoOf(e) : 0))) : 0;
      if (errno) failed = errno;
      this.end(b, gen, errno);
    }
  }

  /** Count the request; the generation it needs, or null when the slot has no hint. */
  private request(b: number): number | null {
    if (Atomics.load(this.w, b + FD) === 0) return null;
    Atomics.add(this.w, b + REQUESTS, 1);
    return (Atomics.load(this.w, b + STARTED) + 1) | 0;
  }

  /** Take the slot's lock and start a flush: its generation, or null if another thread is flushing. */
  private begin(b: number): number | null {
    if (Atomics.compareExchange(this.w, b + LOCK, 0, 1) !== 0) return null;
    return (Atomics.add(this.w, b + STARTED, 1) + 1) | 0;
  }

  private end(b: number, gen: number, errno: number): void {
    const w = this.w;
    Atomics.add(w, b + FLUSHES, 1);
    if (errno) { Atomics.store(w, b + LAST_ERRNO, errno); Atomics.add(w, b + ERRORS, 1); }
    Atomics.store(w, b + DONE, gen);
    Atomics.store(w, b + LOCK, 0);
    Atomics.notify(w, b + DONE);
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= FLUSH_HINT_SLOTS) throw new RangeError(`flush hint: bad slot ${slot}`);
  }
}

function errnoOf(e: NodeJS.ErrnoException): number {
  const n = e.code ? (libc.ERRNO as Record<string, number>)[e.code] : undefined;
  return n ?? (typeof e.errno === 'number' ? Math.abs(e.errno) : libc.ERRNO.EIO);
}
