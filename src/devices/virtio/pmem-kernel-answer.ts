/**
 * A virtio-pmem flush answered by the kernel, with no return to user space: one chain of
 * io_uring requests per flush, in a small ring of the device's own, run by the kernel's
 * worker after the fsync:
 *
 *   fsync → gate → status → used element → used index → irqfd → seen → done
 *
 * - **The gate.** A failed fsync does not break an io_uring link (Linux 6.1 to 6.18 at
 *   least: io_fsync only sets the result), so the chain cannot simply follow it. The gate
 *   is an 8-byte write to an eventfd held at its maximum count, of the fsync's own result
 *   and flags as the kernel posts them in the completion ring: 0 after a successful fsync
 *   adds nothing and succeeds; anything else would overflow the count and fails (EAGAIN),
 *   which cancels the rest. The slot the fsync's completion goes to is known, since the
 *   ring is the device's and serves one chain at a time, and it is preset to -1 first: if
 *   the completion were anywhere else, the gate reads -1 and fails. Never a false "done".
 * - **The answer.** Status (RET_OK), used element and used index are copied into guest
 *   RAM from a staging memfd, in that order (x86 keeps store order), then the irqfd,
 *   routed to the queue's MSI, interrupts the guest straight from the worker.
 * - **seen, done.** Once the interrupt is sent, the chain copies the flush's sequence number
 *   into a word of pmemvm's memory (`seen`): the server looks there at the next notify, with
 *   no system call. Then it writes the device's `done` eventfd, for the server to poll when
 *   it must wait for the end. Every request after the fsync is quiet (no completion when it
 *   succeeds), and a quiet request that fails cancels the rest silently, so a failure is
 *   one completion in the device's ring, and a success is only the fsync's.
 * - **Written once.** The chain's eight requests fill the device's ring of eight, so they
 *   sit in the same slots every time (IoUring.prepare): a flush only changes the fsync's fd,
 *   the gate's source and the three guest addresses, given as 32-bit halves (no BigInt, no
 *   heap number: pmemvm's code runs unoptimized, and garbage per flush means scavenges).
 *
 * Probed once (create()): a kernel without quiet completions, or where the gate does not
 * hold, answers from user space as before.
 */
import * as libc from '../../sys/libc.js';
import { IoUring, THEN } from '../../sys/io-uring.js';
import { assignIrqfd, deassignIrqfd, type IrqRoutes, type MsiMessage } from '../../kvm/irq-routes.js';
import type { AnswerOutcome, KernelAnswer } from './pmem.js';
import { fromHalves } from '../../sys/u64-halves.js';
import { UserError } from '../../errors.js';


/**
 * PMEMVM_FLUSH_ANSWERS, checked: kernel (the default: flushes answered by the kernel where it
 * can) or user (answered by pmemvm). The default since session 23, when bench/flush found it
 * ahead of pmemvm's own answer in most of 15 rounds (bench/RESULTS.md).
 */
export function kernelAnswersWanted(): boolean {
  const v = process.env.PMEMVM_FLUSH_ANSWERS;
  if (v === undefined || v === 'kernel') return true;
  if (v === 'user') return false;
  throw new UserError(`PMEMVM_FLUSH_ANSWERS=${v}: use kernel (flushes answered by the kernel where it can; the default) or user (answered by pmemvm)`);
}

// The parts of a chain, as tagged in the device's ring.
const FSYNC = 1, GATE = 2, STATUS = 3, ELEM = 4, IDX = 5, IRQ = 6, DONE = 7, SEEN = 8;
// Their places in the prepared chain (IoUring.prepare), for the fields a flush changes.
const AT_FSYNC = 0, AT_GATE = 1, AT_STATUS = 2, AT_ELEM = 3, AT_IDX = 4;
/** Where submit()'s host addresses are: each a low and a high half, in this order. */
export const ANSWER_STATUS = 0, ANSWER_ELEM = 2, ANSWER_IDX = 4, ANSWER_HALVES = 6;
/** The probe's requests are tagged apart (bit 40), so that tracing can tell its fsyncs (a memfd, a pipe) from a backend's. */
export const PROBE_TAG = 2 ** 40;
const LINK_QUIET = THEN.link | THEN.quiet;
const GATE_FULL = 0xffff_ffff_ffff_fffen; // an eventfd's largest count
// The staging memfd: one slot per device (status 0, used element, used index, sequence number).
const SLOT_BYTES = 32, SLOTS = 128;
const ST_STATUS = 0, ST_ELEM = 8, ST_IDX = 16, ST_SEQ = 20;
// pmemvm's own page: an 8-byte 1 for eventfd writes, then each slot's `seen` word.
const SEEN_AT = 64;
// How a chain ends when it landed: made once, not per flush.
const LANDED: AnswerOutcome = Object.freeze({ error: null, landed: true, raise: false });
const LANDED_RAISE: AnswerOutcome = Object.freeze({ error: null, landed: true, raise: true });
const landed = (raise: boolean) => raise ? LANDED_RAISE : LANDED;

/** What every device's kernel answers share: the staging memfd, the gate, an 8-byte 1. */
export class KernelAnswers {
  private readonly free = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);

  private constructor(
    readonly stagingFd: number,
    readonly staging: DataView,
    readonly gateFd: number,
    /** Host address of an 8-byte 1, for eventfd writes; the `seen` words follow it (SEEN_AT). */
    readonly one: bigint,
  ) {
    this.seen = new Int32Array(libc.view(one + BigInt(SEEN_AT), SLOTS * 4));
  }

  /** Each slot's `seen` word: the sequence number of the last chain that ran to its end. */
  readonly seen: Int32Array;

  /** Null where the kernel cannot (no quiet completions, or the gate does not hold): answers stay in user space. */
  static create(): KernelAnswers | null {
    const fds: number[] = [];
    const maps: [bigint, number][] = [];
    const undo = () => {
      for (const fd of fds) libc.close(fd);
      for (const [addr, len] of maps) libc.munmap(addr, len);
      return null;
    };
    try {
      const stagingFd = libc.memfd('pmemvm-answers', SLOT_BYTES * SLOTS);
      fds.push(stagingFd);
      const staged = libc.mmap(SLOT_BYTES * SLOTS, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, stagingFd);
      maps.push([staged, SLOT_BYTES * SLOTS]);
      const one = libc.mmap(libc.pageSize(), libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
      maps.push([one, libc.pageSize()]);
      new BigUint64Array(libc.view(one, 8))[0] = 1n;
      const gateFd = libc.eventfd(libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
      fds.push(gateFd);
      libc.write(gateFd, new Uint8Array(new BigUint64Array([GATE_FULL]).buffer));
      const answers = new KernelAnswers(stagingFd, new DataView(libc.view(staged, SLOT_BYTES * SLOTS)), gateFd, one);
      return answers.probe() ? answers : undo();
    } catch {
      return undo();
    }
  }

  /** The gate, tried: after a good fsync the request linked after it runs; after a failed one it never does. */
  private probe(): boolean {
    const ring = new IoUring(8);
    const [r, w] = libc.pipe();
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const byte = new Uint8Array(8);
    const ranAfter = () => { try { return libc.read(r, byte) > 0; } catch { return false; } };
    try {
      if (!ring.quietSuccess) return false;
      const run = (fsyncFd: number): { fsync: number | null; gate: number | null; after: boolean } => {
        const res = new Int32Array(2);
        ring.nextResultAt(-1, res, 0);
        ring.reserve(3);
        ring.fsync(fsyncFd, PROBE_TAG + FSYNC, false);
        ring.flagLast(THEN.link);
        ring.write(this.gateFd, BigInt(fromHalves(res[0]! >>> 0, res[1]! >>> 0)), 8, PROBE_TAG + GATE);
        ring.flagLast(LINK_QUIET);
        ring.write(w, this.one, 1, PROBE_TAG + DONE);
        ring.flagLast(THEN.quiet);
        ring.submit();
        let fsync: number | null = null, gate: number | null = null, after = false;
        const seen = (tag: number, r: number) => { if (tag === PROBE_TAG + FSYNC) fsync = r; else if (tag === PROBE_TAG + GATE) gate = r; };
        for (let i = 0; i < 2000 && !after && gate === null; i++) {
          Atomics.wait(nap, 0, 0, 1);
          ring.reap(seen);
          after = ranAfter();
        }
        ring.reap(seen);
        return { fsync, gate, after: after || ranAfter() };
      };
      const good = run(this.stagingFd); // fsync of a memfd: 0
      const bad = run(w); // fsync of a pipe: EINVAL
      return good.fsync === 0 && good.gate === null && good.after
        && bad.fsync === -libc.ERRNO.EINVAL && bad.gate === -libc.ERRNO.EAGAIN && !bad.after;
    } finally {
      ring.close();
      libc.close(r);
      libc.close(w);
    }
  }

  /** One device's answers; null when no slot is left (128 devices answer in the kernel). */
  device(vmFd: number, routes: IrqRoutes, wakeFd: number): DeviceAnswers | null {
    const slot = this.free.pop();
    if (slot === undefined) return null;
    try {
      return new DeviceAnswers(this, slot, vmFd, routes, wakeFd, () => this.free.push(slot));
    } catch (e) {
      this.free.push(slot);
      throw e;
    }
  }
}

/** One device's chain: its ring, irqfd (with its GSI route), `seen` word and `done` eventfd. */
export class DeviceAnswers {
  private readonly ring = new IoUring(8);
  readonly doneFd: number;
  private readonly irqFd: number;
  /** The GSI the irqfd raises (its route is the queue's MSI while routed). */
  readonly gsi: number;
  /** The MSI the irqfd raises, while it is routed. */
  private msi: MsiMessage | null = null;
  /** The chain in flight: its sequence number, whom to tell, the fsync's result once posted. */
  private seq = 0;
  private done: ((o: AnswerOutcome) => void) | null = null;
  private fsync: number | null = null;
  /** Byte offset of the device's slot in the staging memfd. */
  private readonly at: number;
  /** The gate's source (the fsync's result slot) as host address halves, set per flush. */
  private readonly gateSource = new Int32Array(2);

  constructor(
    private readonly shared: KernelAnswers,
    private readonly slot: number,
    private readonly vmFd: number,
    private readonly routes: IrqRoutes,
    wakeFd: number,
    private readonly release: () => void,
  ) {
    const fds: number[] = [];
    this.at = slot * SLOT_BYTES;
    try {
      // Its completions (a finished fsync, a failure) wake the event loop, never a vCPU.
      this.ring.registerEventfd(wakeFd);
      this.irqFd = libc.eventfd(libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
      fds.push(this.irqFd);
      this.doneFd = libc.eventfd(libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
      fds.push(this.doneFd);
      this.gsi = routes.allocMsi();
      const st = shared.staging, at = this.at, stagingFd = shared.stagingFd, r = this.ring;
      st.setUint32(at + ST_STATUS, 0, true); // RET_OK
      st.setUint32(at + ST_ELEM + 4, 4, true); // bytes written: the status
      Atomics.store(shared.seen, slot, 0);
      // The fsync's fd, the gate's source and the guest addresses are set per flush (submit()).
      r.prepare(() => {
        r.fsync(-1, FSYNC, false);
        r.flagLast(THEN.link);
        r.write(shared.gateFd, 0n, 8, GATE);
        r.flagLast(LINK_QUIET);
        r.read(stagingFd, 0n, 4, at + ST_STATUS, STATUS);
        r.flagLast(LINK_QUIET);
        r.read(stagingFd, 0n, 8, at + ST_ELEM, ELEM);
        r.flagLast(LINK_QUIET);
        r.read(stagingFd, 0n, 2, at + ST_IDX, IDX);
        r.flagLast(LINK_QUIET);
        r.write(this.irqFd, shared.one, 8, IRQ);
        r.flagLast(LINK_QUIET);
        r.read(stagingFd, shared.one + BigInt(SEEN_AT + slot * 4), 4, at + ST_SEQ, SEEN);
        r.flagLast(LINK_QUIET);
        r.write(this.doneFd, shared.one, 8, DONE);
        r.flagLast(THEN.quiet);
      });
    } catch (e) {
      for (const fd of fds) libc.close(fd);
      this.ring.close();
      throw e;
    }
  }

  get busy(): boolean { return this.done !== null; }

  /** The irqfd raises `msi` from now on (a new route only when it changed). */
  route(msi: MsiMessage): void {
    const m = this.msi;
    if (m === msi) return; // the same message object (MsixVectors.deliverable keeps one while the entry holds): no field loads
    if (m && m.addressLo === msi.addressLo && m.addressHi === msi.addressHi && m.data === msi.data) return;
    this.unroute();
    this.routes.setMsi(this.gsi, msi.addressLo, msi.addressHi, msi.data);
    assignIrqfd(this.vmFd, this.irqFd, this.gsi);
    this.msi = msi;
  }

  /**
   * The irqfd stops raising at once (KVM_IRQFD deassign is synchronous), so that a mask holds.
   * A chain in flight then leaves its count in the eventfd; its end hands that to the server.
   * True if it was routed.
   */
  unroute(): boolean {
    if (!this.msi) return false;
    this.msi = null;
    deassignIrqfd(this.vmFd, this.irqFd, this.gsi);
    return true;
  }

  /**
   * Start the chain for `a`, whose guest writes go to host addresses given as signed 32-bit
   * halves in `at` (status, used element, used index: low then high each); `done` comes once,
   * when it ended.
   */
  submit(backendFd: number, a: KernelAnswer, at: Int32Array, done: (o: AnswerOutcome) => void): void {
    this.reap(); // what the last chain posted (its fsync's completion): the next one goes at the tail
    const st = this.shared.staging, s = this.at, r = this.ring;
    const seq = (this.seq + 1) | 0;
    st.setUint32(s + ST_ELEM, a.head, true);
    st.setUint16(s + ST_IDX, a.newIdx, true);
    st.setInt32(s + ST_SEQ, seq, true);
    r.setFd(AT_FSYNC, backendFd);
    r.nextResultAt(-1, this.gateSource, 0);
    r.setAddr(AT_GATE, this.gateSource, 0);
    r.setAddr(AT_STATUS, at, ANSWER_STATUS);
    r.setAddr(AT_ELEM, at, ANSWER_ELEM);
    r.setAddr(AT_IDX, at, ANSWER_IDX);
    r.resubmit(); // throws if the kernel took none of it: nothing is in flight then
    this.seq = seq;
    this.fsync = null;
    this.done = done;
  }

  /** Completions are waiting in the device's ring (a failure, or a finished fsync's). */
  hasCompletions(): boolean { return this.ring.hasCompletions(); }

  /** Take the device's completions; a failure ends the chain in flight. */
  reap(): void { this.ring.reap(this.onCompletion); }

  /** One completion of the device's ring (bound once: reap() runs at every notify). */
  private readonly onCompletion = (tag: number, res: number): void => {
    if (!this.done) return; // a straggler of a chain already ended (cancelled parts)
    if (tag === FSYNC) { this.fsync = res; return; }
    // A quiet part failed, and the rest of the chain was cancelled: nothing after it ran.
    switch (tag) {
      case GATE: case STATUS: case ELEM: case IDX: {
        // Nothing (gate) or part of the answer landed: the server writes it all. The fsync's own result decides what.
        const error = this.fsync !== null && this.fsync < 0 ? new libc.SysError('fsync', -this.fsync) : null;
        return this.end({ error, landed: false, raise: false });
      }
      case IRQ: return this.end(LANDED_RAISE);
      case SEEN: return this.end(landed(this.irqWaiting()));
      default: // DONE: the chain had ended at `seen` already (it cannot fail: an eventfd's count is far from full)
    }
  };

  /** The chain ran to its end (`seen` holds its number): end it. False if it has not. */
  tryEnd(): boolean {
    if (!this.done) return true;
    if (Atomics.load(this.shared.seen, this.slot) !== this.seq) return false;
    this.end(landed(this.irqWaiting()));
    return true;
  }

  /**
   * Before the server polls `done` to learn of the end: its count is emptied (each chain
   * adds 1, unread while `seen` told), then the end is looked for once more. False: the
   * chain has ended (tryEnd() ran it); true: poll `done`, which the chain writes last.
   */
  awaitEnd(): boolean {
    libc.takeEventfd(this.doneFd);
    return !this.tryEnd();
  }

  /** The interrupt went into the eventfd while it was unrouted (a mask, a new message): the server raises it. */
  private irqWaiting(): boolean { return !this.msi && libc.takeEventfd(this.irqFd) > 0; }

  private end(o: AnswerOutcome): void {
    const done = this.done!;
    this.done = null; // before done(): the server may start the next chain from within
    done(o);
  }

  /** After the device is gone (no chain in flight). */
  close(): void {
    try {
      this.unroute();
      this.routes.freeMsi(this.gsi);
    } finally {
      this.ring.close();
      libc.close(this.irqFd);
      libc.close(this.doneFd);
      this.release();
    }
  }
}
