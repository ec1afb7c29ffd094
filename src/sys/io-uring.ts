/**
 * A small io_uring (Linux 5.1+; what pmemvm uses needs 5.6, multishot polls 5.13): setup,
 * the submission and completion rings mapped into this process, and the few
 * operations pmemvm uses. One instance belongs to one thread, the thread that
 * creates it, submits to it and reaps it; nothing here is shared with others.
 *
 * Why a ring and not a thread: the kernel runs a request's completion work as
 * task work of the thread that submitted it, and task work interrupts that
 * thread wherever it waits, KVM_RUN included (KVM returns EINTR, as it does
 * for a signal). A thread that runs a vCPU can therefore wait on device
 * events and on fsyncs done in the kernel's own workers without a thread of
 * its own.
 */
import { SysError } from './libc.js';
import * as libc from './libc.js';
import { addToHalves, fromHalves, toHalves } from './u64-halves.js';
import { koffi } from './koffi.js';

const lib = koffi.load('libc.so.6');

// syscall(2) with the argument types each use needs (glibc's wrapper only moves registers).
const c = {
  setup: lib.func('long syscall(long nr, uint32_t entries, void *params)'),
  enter: lib.func('long syscall(long nr, int fd, uint32_t toSubmit, uint32_t minComplete, uint32_t flags, void *sig, size_t sigsz)'),
  register: lib.func('long syscall(long nr, int fd, uint32_t opcode, void *arg, uint32_t nrArgs)'),
};
const SYS_IO_URING_SETUP = 425, SYS_IO_URING_ENTER = 426, SYS_IO_URING_REGISTER = 427;

/** Operation codes (include/uapi/linux/io_uring.h). */
export const OP = { FSYNC: 3, POLL_ADD: 6, POLL_REMOVE: 7, READ: 22, WRITE: 23 } as const;
const IOSQE_IO_LINK = 1 << 2, IOSQE_IO_HARDLINK = 1 << 3, IOSQE_CQE_SKIP_SUCCESS = 1 << 6;
/**
 * How the request queued last goes on (flagLast): `link`, the next one runs only if this one
 * succeeds (a failure cancels the rest of the chain); `quiet`, no completion when it succeeds.
 */
export const THEN = { link: IOSQE_IO_LINK, quiet: IOSQE_CQE_SKIP_SUCCESS } as const;
const IORING_FSYNC_DATASYNC = 1;
const IORING_POLL_ADD_MULTI = 1;
const POLLIN = 0x001;
const IORING_ENTER_GETEVENTS = 1;
const IORING_REGISTER_EVENTFD = 4;
const IORING_FEAT_SINGLE_MMAP = 1 << 0, IORING_FEAT_NODROP = 1 << 1, IORING_FEAT_CQE_SKIP = 1 << 11;
const IORING_SQ_CQ_OVERFLOW = 1 << 1;
/** The completion says more will follow for the same request (a multishot poll still armed). */
export const CQE_F_MORE = 1 << 1;
const OFF_SQ_RING = 0n, OFF_SQES = 0x10000000n;
const SQE_SIZE = 64, CQE_SIZE = 16;

/**
 * One completion, as reap() hands it over: the submitter's tag, the result (>= 0, or -errno),
 * flags. Three numbers, no object: reap() runs at every flush, where pmemvm's code runs
 * unoptimized and each object made is garbage. A tag is a number below 2^53 (a small
 * integer below 2^31: no heap number either).
 */
export type OnCompletion = (userData: number, res: number, flags: number) => void;

export class IoUring {
  readonly fd: number;
  private readonly sqHead: Int32Array;
  private readonly sqTail: Int32Array;
  private readonly sqFlags: Int32Array;
  private readonly sqMask: number;
  private readonly sqEntries: number;
  private readonly sqes: DataView;
  private readonly cqHead: Int32Array;
  private readonly cqTail: Int32Array;
  private readonly cqMask: number;
  private readonly cqes: DataView;
  private readonly cqesAddr: bigint;
  /** cqesAddr as signed 32-bit halves (u64-halves.ts). */
  private readonly cqesHalves = new Int32Array(2);
  private readonly maps: { addr: bigint; len: number }[] = [];
  /** SQEs written since the last submit. */
  private pending = 0;
  /** Offset of the SQE written last. */
  private last = 0;
  /** The kernel honours THEN.quiet (IOSQE_CQE_SKIP_SUCCESS, Linux 5.17). */
  readonly quietSuccess: boolean;
  /** Offsets of a prepared chain's SQEs (prepare()); the ring then takes no other request. */
  private chain: number[] | null = null;

  /**
   * Throws SysError when the kernel has no io_uring or refuses it (ENOSYS, EPERM from a
   * sandbox or kernel.io_uring_disabled), or lacks a feature this needs (EOPNOTSUPP).
   */
  constructor(entries = 64) {
    const params = new Uint8Array(120);
    const fd = Number(c.setup(SYS_IO_URING_SETUP, entries, params));
    if (fd < 0) throw new SysError('io_uring_setup', koffi.errno());
    this.fd = fd;
    try {
      const p = new DataView(params.buffer);
      const u32 = (o: number) => p.getUint32(o, true);
      const features = u32(20);
      // One mapping for both rings (5.4) and no completion ever dropped (5.5): older kernels are not served.
      if (!(features & IORING_FEAT_SINGLE_MMAP) || !(features & IORING_FEAT_NODROP)) throw new SysError('io_uring_setup', libc.ERRNO.EOPNOTSUPP);
      this.quietSuccess = (features & IORING_FEAT_CQE_SKIP) !== 0;
      const sqEntries = u32(0), cqEntries = u32(4);
      const SQ = 40, CQ = 80; // struct io_sqring_offsets, struct io_cqring_offsets
      const ringLen = Math.max(u32(SQ + 24) + sqEntries * 4, u32(CQ + 20) + cqEntries * CQE_SIZE);
      const ring = this.map(ringLen, OFF_SQ_RING);
      const sqesAddr = this.map(sqEntries * SQE_SIZE, OFF_SQES);
      // Signed views: a counter past 2^31 still reads as a small integer (no heap number per completion).
      const word = (off: number) => new Int32Array(libc.view(ring + BigInt(off), 4));
      this.sqHead = word(u32(SQ));
      this.sqTail = word(u32(SQ + 4));
      this.sqMask = word(u32(SQ + 8))[0]!;
      this.sqEntries = sqEntries;
      this.sqFlags = word(u32(SQ + 16));
      // The index array: slot i always holds SQE i, so the tail alone says what is new.
      const array = new Uint32Array(libc.view(ring + BigInt(u32(SQ + 24)), sqEntries * 4));
      for (let i = 0; i < sqEntries; i++) array[i] = i;
      this.sqes = new DataView(libc.view(sqesAddr, sqEntries * SQE_SIZE));
      this.cqHead = word(u32(CQ));
      this.cqTail = word(u32(CQ + 4));
      this.cqMask = word(u32(CQ + 8))[0]!;
      this.cqesAddr = ring + BigInt(u32(CQ + 20));
      toHalves(Number(this.cqesAddr), this.cqesHalves, 0);
      this.cqes = new DataView(libc.view(this.cqesAddr, cqEntries * CQE_SIZE));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private map(len: number, offset: bigint): bigint {
    const addr = libc.mmap(len, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED | 0x8000 /* MAP_POPULATE */, this.fd, Number(offset));
    this.maps.push({ addr, len });
    return addr;
  }

  /** Signal `eventfd` whenever a completion is posted (IORING_REGISTER_EVENTFD). */
  registerEventfd(eventfd: number): void {
    const arg = new Int32Array([eventfd]);
    const r = Number(c.register(SYS_IO_URING_REGISTER, this.fd, IORING_REGISTER_EVENTFD, arg, 1));
    if (r < 0) throw new SysError('io_uring_register', koffi.errno());
  }

  /** Room for `n` more requests in this batch (a linked chain must not be split), submitting what is queued if not. */
  reserve(n: number): void {
    if (this.pending + n > this.sqEntries) this.submit();
  }

  /** Room for one more request, submitting what is queued if the ring is full. */
  private sqe(op: number, fd: number, userData: number): number {
    if (this.chain) throw new Error('io_uring: this ring serves a prepared chain only');
    if (this.pending === this.sqEntries) this.submit();
    const tail = this.sqTail[0]!;
    const o = ((tail + this.pending) & this.sqMask) * SQE_SIZE;
    const s = this.sqes;
    for (let i = 0; i < SQE_SIZE; i += 8) s.setBigUint64(o + i, 0n, true);
    s.setUint8(o, op);
    s.setInt32(o + 4, fd, true);
    if (userData >= 0 && userData <= 0x7fff_ffff) s.setInt32(o + 32, userData, true); // the high half is zeroed above
    else { s.setUint32(o + 32, userData % 2 ** 32, true); s.setUint32(o + 36, Math.floor(userData / 2 ** 32), true); }
    this.pending++;
    this.last = o;
    return o;
  }

  /** Add THEN flags to the request queued last (reserve room for a whole chain first). */
  flagLast(flags: number): void {
    this.sqes.setUint8(this.last + 1, this.sqes.getUint8(this.last + 1) | flags);
  }

  /**
   * Wait for input on `fd`: one completion per wake-up while armed (multishot), or one in all.
   * `thenNext`: the next request queued runs once this one has ended, whatever its result (a
   * hard link; one-shot only). Reserve room for both first.
   */
  pollAdd(fd: number, userData: number, multishot: boolean, thenNext = false): void {
    const o = this.sqe(OP.POLL_ADD, fd, userData);
    this.sqes.setUint32(o + 28, POLLIN, true); // poll32_events
    if (multishot) this.sqes.setUint32(o + 24, IORING_POLL_ADD_MULTI, true); // len: poll flags
    if (thenNext) this.sqes.setUint8(o + 1, IOSQE_IO_HARDLINK);
  }

  /** write(2) of `len` bytes at host address `addr` to `fd`, at its current position (a pipe, a socket). */
  write(fd: number, addr: bigint, len: number, userData: number): void {
    const o = this.sqe(OP.WRITE, fd, userData);
    this.sqes.setBigUint64(o + 8, 0xffff_ffff_ffff_ffffn, true); // off: -1, the file's own position
    this.sqes.setBigUint64(o + 16, addr, true);
    this.sqes.setUint32(o + 24, len, true);
  }

  /** pread(2) of `len` bytes of `fd` at `offset` into host address `addr`. */
  read(fd: number, addr: bigint, len: number, offset: number, userData: number): void {
    const o = this.sqe(OP.READ, fd, userData);
    this.sqes.setBigUint64(o + 8, BigInt(offset), true);
    this.sqes.setBigUint64(o + 16, addr, true);
    this.sqes.setUint32(o + 24, len, true);
  }

  /** Disarm the poll tagged `target`; its last completion (-ECANCELED) still comes. */
  pollRemove(target: number, userData: number): void {
    const o = this.sqe(OP.POLL_REMOVE, -1, userData);
    this.sqes.setBigUint64(o + 16, BigInt(target), true); // addr: the poll's user_data
  }

  /**
   * fsync (or fdatasync) of `fd`, in the kernel's own worker thread: the submitter does not wait.
   * `thenNext`: as for pollAdd, the next request runs once this one has ended, failed or not.
   */
  fsync(fd: number, userData: number, datasync: boolean, thenNext = false): void {
    const o = this.sqe(OP.FSYNC, fd, userData);
    if (datasync) this.sqes.setUint32(o + 28, IORING_FSYNC_DATASYNC, true);
    if (thenNext) this.sqes.setUint8(o + 1, IOSQE_IO_HARDLINK);
  }

  /**
   * A chain written once and submitted again and again (resubmit()), with only its addresses
   * and fd changed in between (setAddr, setFd): less work per submission than building it.
   * `build` queues exactly as many requests as the ring has entries, so every submission puts
   * them in the same slots (the kernel has copied what it needs by the time io_uring_enter
   * returns, and the slots can be written again). After this the ring takes nothing else.
   */
  prepare(build: () => void): void {
    if (this.pending !== 0 || this.chain) throw new Error('io_uring: prepare() needs a ring with nothing queued, once');
    const tail = this.sqTail[0]!;
    build();
    if (this.pending !== this.sqEntries) throw new Error(`io_uring: a prepared chain fills the ring (${this.pending} of ${this.sqEntries} requests)`);
    this.chain = Array.from({ length: this.sqEntries }, (_, k) => ((tail + k) & this.sqMask) * SQE_SIZE);
    this.pending = 0; // written, not submitted
  }

  /** The address field of the prepared chain's request `k`: a host address as signed halves at halves[at] (low), halves[at + 1]. */
  setAddr(k: number, halves: Int32Array, at: number): void {
    const o = this.chain![k]! + 16;
    this.sqes.setInt32(o, halves[at]!, true);
    this.sqes.setInt32(o + 4, halves[at + 1]!, true);
  }

  /** The fd of the prepared chain's request `k`. */
  setFd(k: number, fd: number): void {
    this.sqes.setInt32(this.chain![k]! + 4, fd, true);
  }

  /** Submit the prepared chain once more, as it now stands. */
  resubmit(): void {
    this.pending = this.sqEntries;
    this.submit();
  }

  /** Hand the queued requests to the kernel; with `wait`, return once that many completions are in the ring. */
  submit(wait = 0): void {
    if (this.pending === 0 && wait === 0 && !(Atomics.load(this.sqFlags, 0) & IORING_SQ_CQ_OVERFLOW)) return;
    let n = this.pending;
    Atomics.store(this.sqTail, 0, (this.sqTail[0]! + n) | 0);
    this.pending = 0;
    // GETEVENTS also moves completions held back by a full ring into it.
    for (let submitted = false; ; ) {
      const r = Number(c.enter(SYS_IO_URING_ENTER, this.fd, n, wait, IORING_ENTER_GETEVENTS, null, 0));
      if (r >= 0) return;
      const errno = koffi.errno();
      if (errno !== libc.ERRNO.EINTR) throw new SysError('io_uring_enter', errno);
      if (!submitted) submitted = Atomics.load(this.sqHead, 0) === this.sqTail[0];
      if (submitted) n = 0; // interrupted while waiting: what was queued went in already
    }
  }

  /**
   * Where the kernel writes the result and flags (8 bytes) of the next completion it posts:
   * the slot at the completion ring's tail, preset here to `res` (flags 0), its host address
   * written as signed halves to out[at] (low), out[at + 1]. Only meaningful when nothing else
   * can post before it; a request linked after can then read that result.
   */
  nextResultAt(res: number, out: Int32Array, at: number): void {
    const o = (Atomics.load(this.cqTail, 0) & this.cqMask) * CQE_SIZE;
    this.cqes.setInt32(o + 8, res, true);
    this.cqes.setUint32(o + 12, 0, true);
    addToHalves(this.cqesHalves[0]!, this.cqesHalves[1]!, o + 8, out, at);
  }

  /** Completions are waiting to be reaped (or held back by a full ring). */
  hasCompletions(): boolean {
    return this.cqHead[0] !== Atomics.load(this.cqTail, 0) || (Atomics.load(this.sqFlags, 0) & IORING_SQ_CQ_OVERFLOW) !== 0;
  }

  /**
   * Take every completion posted so far, oldest first. The head is read afresh for each one,
   * so that `each` may reap this ring itself (a callback that starts the next request does).
   */
  reap(each: OnCompletion): void {
    for (;;) {
      const head = this.cqHead[0]!;
      if (head === Atomics.load(this.cqTail, 0)) {
        if (!(Atomics.load(this.sqFlags, 0) & IORING_SQ_CQ_OVERFLOW)) return;
        this.submit(); // the ring was full: bring in what overflowed, then take that too
        if (Atomics.load(this.cqTail, 0) === this.cqHead[0]) return;
        continue;
      }
      const o = (head & this.cqMask) * CQE_SIZE, c = this.cqes;
      const lo = c.getInt32(o, true), hi = c.getInt32(o + 4, true);
      const userData = hi === 0 && lo >= 0 ? lo : fromHalves(lo >>> 0, hi >>> 0);
      const res = c.getInt32(o + 8, true), flags = c.getInt32(o + 12, true) >>> 0;
      Atomics.store(this.cqHead, 0, (head + 1) | 0); // the slot is ours to read until the head passes it
      each(userData, res, flags);
    }
  }

  /** Requests still in the kernel's hands end with the ring (their files are released). */
  close(): void {
    for (const m of this.maps.splice(0)) libc.munmap(m.addr, m.len);
    libc.close(this.fd);
  }
}
