/**
 * Device I/O on the main thread, with no thread or isolate of its own: the
 * request queues of every virtio-pmem device are served by the thread that
 * also runs vCPU 0 and the monitors, through one io_uring (sys/io-uring.ts).
 *
 * - Each device's notify eventfd (KVM signals it when the guest writes the
 *   queue's notify register) has a one-shot poll in the ring, armed again after
 *   each completion.
 * - Each flush is an fsync in the ring, done by the kernel's own worker
 *   threads, so neither vCPU 0 nor the monitor waits for a disk, and one
 *   device's slow disk does not hold up another device's flush.
 * - Each poll and each fsync is hard-linked to a one-byte write to a pipe that
 *   signals this thread (O_ASYNC, the main thread's work signal), so every
 *   completion that matters leaves that signal pending. It is blocked outside
 *   KVM_RUN and unblocked inside, so KVM_RUN returns at once whatever this thread
 *   was doing when the completion came. Task work alone (what a completion is to
 *   the thread that submitted the request) would not do: it is spent on whatever
 *   system call or interrupt returns first, and a completion that came while this
 *   thread ran JavaScript would leave vCPU 0 in KVM_RUN until its next exit.
 * - Where the kernel can (pmem-kernel-answer.ts), a flush whose interrupt is one unmasked
 *   MSI-X message is answered in the kernel instead: the fsync, then status, used ring and
 *   an irqfd, in the device's own small ring, with no signal and no return from KVM_RUN.
 *   The server learns of it when it next needs to (a request waiting, stop, a queue
 *   withdrawn, the guest changing interrupts): then its `seen` word is read, or its `done`
 *   eventfd polled here with the kick linked. A failure is a completion in the device's
 *   ring, taken at the next event-loop turn or after the next slice (within vCPU 0's
 *   slice, 50 ms), and the server answers itself.
 * - vCPU 0's slices take the completions before it enters the guest again
 *   (kvm/main-thread-work.ts), with no event-loop turn: the work signal is not
 *   the kick signal. Every completion also signals an eventfd that the event
 *   loop watches, for the times vCPU 0 is out of KVM_RUN (paused, between slices).
 */
import * as libc from '../../sys/libc.js';
import { IoUring } from '../../sys/io-uring.js';
import { watchEventfd, type EventfdWatch } from '../../sys/fd-watch.js';
import { addMainThreadWork } from '../../kvm/main-thread-work.js';
import { debug } from '../../debug.js';
import type { PmemDeviceData, PmemDeviceEvents, PmemIo, PmemIoDevice } from './pmem-io.js';
import { guestMemoryOf, pmemServerFor } from './pmem-server.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { KernelAnswer, PmemRequestServer } from './pmem.js';
import type { IrqRoutes } from '../../kvm/irq-routes.js';
import { ANSWER_ELEM, ANSWER_HALVES, ANSWER_IDX, ANSWER_STATUS, KernelAnswers, kernelAnswersWanted, type DeviceAnswers } from './pmem-kernel-answer.js';

// A completion's tag: the device's id, shifted, and what the request was (a small integer:
// no BigInt or heap number per request).
const NOTIFY = 1, FSYNC = 2, UNPOLL = 3, KICK = 5;
// The poll on a kernel answer's `done` eventfd.
const WATCH = 6;
const tag = (id: number, kind: number) => id * 256 + kind;
const KICKS_PER_DRAIN = 128;
const NAP = new Int32Array(new SharedArrayBuffer(4));

interface Device {
  readonly id: number;
  readonly server: PmemRequestServer;
  readonly notifyFd: number;
  readonly events: PmemDeviceEvents;
  /** The notify poll is in the ring (its completion not yet seen). */
  polling: boolean;
  /** The fsync in the ring: its caller's callback. */
  flushDone: ((error: Error | null) => void) | null;
  /** Set by remove(): resolves once the flush in hand is answered and the poll is gone. */
  removing: { idle: boolean; done: (flushes: number) => void } | null;
  /** The device's kernel answers (pmem-kernel-answer.ts), made with the first one; null: not yet, or never. */
  answers: DeviceAnswers | null;
  /** A poll on the answers' `done` is in the ring (its completion not yet seen). */
  watching: boolean;
  /** A queue is being withdrawn: no new kernel answers meanwhile. */
  settling: boolean;
  /** Kernel answers failed to set up for this device once: it is answered from user space. */
  userAnswers: boolean;
}

export class PmemIoReactor implements PmemIo {
  readonly onMainThread = true;
  private readonly ring: IoUring;
  private readonly wakeFd: number;
  private readonly watch: EventfdWatch;
  /** The pipe whose input signals this thread, and a page holding the byte written to it. */
  private readonly kickFds: [number, number];
  private readonly kickByte: bigint;
  /** Kicks queued since the pipe was last emptied: each writes one byte when it runs. */
  private kicksUnread = 0;
  private readonly devices = new Map<number, Device>();
  private nextId = 1;
  /** What kernel answers share, probed with the first device that could use them (null: the kernel cannot). */
  private kernelAnswers: KernelAnswers | null | undefined;
  /** Devices that answer in the kernel: their rings are looked at after each slice (an array: no iterator on that path). */
  private readonly answering: Device[] = [];

  /** Throws SysError where io_uring is missing, refused, or too old (hard links and writes: Linux 5.6). */
  constructor() {
    this.ring = new IoUring(64);
    const fds: number[] = [];
    try {
      this.wakeFd = libc.eventfd(libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
      fds.push(this.wakeFd);
      this.ring.registerEventfd(this.wakeFd);
      this.kickFds = libc.pipe();
      fds.push(...this.kickFds);
      const sig = libc.workSignal();
      libc.installKickHandler(sig);
      libc.signalThreadOnInput(this.kickFds[0], libc.gettid(), sig);
      this.kickByte = libc.mmap(libc.pageSize(), libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
      new Uint8Array(libc.view(this.kickByte, 1))[0] = 1;
      // The event loop's read of the eventfd resets it; nothing else reads it.
      this.watch = watchEventfd(this.wakeFd, () => this.pump(), (e) => this.fatal(`device I/O: ${e.message}`));
      this.probeHardLink();
    } catch (e) {
      for (const fd of fds) libc.close(fd);
      this.ring.close();
      throw e;
    }
    // Like an idle worker, the watch does not keep the process alive.
    this.watch.unref();
    addMainThreadWork({ pending: () => this.pending(), run: () => this.pump() });
  }

  /** A failing poll hard-linked to the kick: the kick must still run (a kernel before 5.6 refuses one or the other). */
  private probeHardLink(): void {
    this.ring.reserve(2);
    this.ring.pollAdd(-1, 1, false, true);
    this.ring.write(this.kickFds[1], this.kickByte, 1, 2);
    this.ring.submit(2);
    const res = new Map<number, number>();
    this.ring.reap((userData, r) => { res.set(userData, r); });
    libc.drainFd(this.kickFds[0]);
    libc.drainSignal(libc.workSignal());
    if (res.get(1) !== -libc.ERRNO.EBADF || res.get(2) !== 1) throw new libc.SysError('io_uring hard link', libc.ERRNO.EOPNOTSUPP);
  }

  add(d: PmemDeviceData, events: PmemDeviceEvents, routes?: IrqRoutes): PmemIoDevice {
    const id = this.nextId++;
    const memory = guestMemoryOf(d);
    /** The host addresses of a kernel answer's guest writes, as halves (answerAt), made once per device. */
    const at = new Int32Array(ANSWER_HALVES);
    const dev: Device = {
      id, notifyFd: d.notifyFd, events, polling: false, flushDone: null, removing: null,
      answers: null, watching: false, settling: false, userAnswers: false,
      server: pmemServerFor(d, {
        flushAndAnswer: (a, done) => {
          if (d.backendFd < 0 || !routes || dev.settling || dev.userAnswers) return false;
          const answers = this.answerAt(memory, a, at) ? this.routed(dev, d.vmFd, routes, a) : null;
          if (!answers) return false;
          answers.submit(d.backendFd, a, at, done);
          return true;
        },
        hurry: () => this.hurry(dev),
        flush: (done) => {
          if (d.backendFd < 0) return done(null);
          dev.flushDone = done;
          this.ring.reserve(2);
          this.ring.fsync(d.backendFd, tag(id, FSYNC), false, true);
          this.kick();
          this.ring.submit();
        },
        onError: (message) => events.onError(message),
        onBroken: (message) => events.onBroken(message),
      }, memory),
    };
    this.devices.set(id, dev);
    this.watch.ref();
    this.poll(dev);
    this.ring.submit();
    dev.server.service(); // a notify that came before the poll was armed
    let removing: Promise<number> | null = null;
    return {
      // Straight from vCPU 0's exit: no poll completion, no signal, no counter to read.
      notify: () => { if (!dev.removing && this.devices.get(id) === dev) dev.server.service(); },
      remove: () => removing ??= new Promise<number>((res) => this.remove(dev, res)).then((n) => { this.release(dev); return n; }),
      interruptsChanged: () => this.unroute(dev),
      quiesce: () => this.settle(dev),
    };
  }

  /** Host addresses of the answer's three guest writes into `at` (as DeviceAnswers.submit takes them); false if any is not wholly in guest RAM. */
  private answerAt(memory: GuestMemory, a: KernelAnswer, at: Int32Array): boolean {
    return memory.hostHalves(a.status, 4, at, ANSWER_STATUS) && memory.hostHalves(a.elem, 8, at, ANSWER_ELEM) && memory.hostHalves(a.idx, 2, at, ANSWER_IDX);
  }

  /** The device's answers with their irqfd routed to the answer's MSI; null if the kernel cannot answer this one. */
  private routed(dev: Device, vmFd: number, routes: IrqRoutes, a: KernelAnswer): DeviceAnswers | null {
    try {
      if (!dev.answers) {
        if (this.kernelAnswers === undefined) {
          this.kernelAnswers = kernelAnswersWanted() ? KernelAnswers.create() : null;
          if (!this.kernelAnswers) debug(`device I/O: flushes answered here (${kernelAnswersWanted() ? 'the kernel cannot: no quiet completions, or a failed fsync does not stop what follows it' : 'PMEMVM_FLUSH_ANSWERS=user'})`);
        }
        dev.answers = this.kernelAnswers?.device(vmFd, routes, this.wakeFd) ?? null;
        if (!dev.answers) { dev.userAnswers = true; return null; }
        this.answering.push(dev);
        debug(`device I/O: device ${dev.id} answers flushes in the kernel (irqfd on GSI ${dev.answers.gsi})`);
      }
      dev.answers.route(a.msi);
      return dev.answers;
    } catch (e) {
      dev.events.onError(`flushes answered from user space from now on: ${(e as Error).message}`);
      dev.userAnswers = true;
      return null;
    }
  }

  /**
   * The guest changed the device's interrupts (MSI-X table, masks, vectors, reset): the irqfd
   * stops raising at once, so that a mask holds, and the end of an answer in flight is
   * watched from now on: its interrupt may wait in the eventfd, and the guest for it.
   */
  private unroute(dev: Device): void {
    try {
      if (dev.answers?.unroute()) this.hurry(dev);
    } catch (e) {
      dev.events.onFatal(`interrupts from the kernel: ${(e as Error).message}`); // a mask could not hold
    }
  }

  /** The server waits for the answer in flight: end it now if it ran, else have its end signal this thread. */
  private hurry(dev: Device): void {
    const a = dev.answers;
    if (!a?.busy) return;
    a.reap(); // a failure ends it
    if (!a.busy || a.tryEnd() || dev.watching || !a.awaitEnd()) return;
    dev.watching = true;
    this.ring.reserve(2);
    this.ring.pollAdd(a.doneFd, tag(dev.id, WATCH), false, true);
    this.kick();
    this.ring.submit();
  }

  /**
   * Before a queue is withdrawn (reset): the answer in flight lands first (or fails), and no
   * new one starts meanwhile. Rare, and as long as the fsync: looked at every millisecond.
   */
  private settle(dev: Device): void {
    dev.settling = true;
    try {
      for (let a = dev.answers; a?.busy;) {
        a.reap();
        if (a.busy && !a.tryEnd()) Atomics.wait(NAP, 0, 0, 1);
      }
    } finally {
      dev.settling = false;
    }
  }

  /** After remove(): the answers' ring, irqfd, route and staging slot go. */
  private release(dev: Device): void {
    const a = dev.answers;
    if (!a) return;
    dev.answers = null;
    this.answering.splice(this.answering.indexOf(dev), 1);
    if (dev.watching) {
      this.ring.pollRemove(tag(dev.id, WATCH), tag(dev.id, UNPOLL));
      this.ring.submit();
    }
    try {
      a.close();
    } catch (e) {
      dev.events.onError(`interrupts from the kernel: ${(e as Error).message}`);
    }
  }

  /** Anything to take after a slice: the ring's completions, or an answering device's (a failure). */
  private pending(): boolean {
    if (this.ring.hasCompletions()) return true;
    for (let i = 0; i < this.answering.length; i++) if (this.answering[i]!.answers!.hasCompletions()) return true;
    return false;
  }

  /** Nothing to start ahead of hotplug: a device costs a poll in the ring. */
  prestart(): void {}

  private poll(dev: Device): void {
    dev.polling = true;
    this.ring.reserve(2);
    this.ring.pollAdd(dev.notifyFd, tag(dev.id, NOTIFY), false, true);
    this.kick();
  }

  /** The write that signals this thread, hard-linked after the request queued just before. */
  private kick(): void {
    this.ring.write(this.kickFds[1], this.kickByte, 1, KICK);
    this.kicksUnread++;
  }

  private remove(dev: Device, done: (flushes: number) => void): void {
    if (this.devices.get(dev.id) !== dev) { done(0); return; }
    dev.removing = { idle: false, done };
    if (dev.polling) {
      this.ring.pollRemove(tag(dev.id, NOTIFY), tag(dev.id, UNPOLL));
      this.ring.submit();
    }
    dev.server.stop(() => { dev.removing!.idle = true; this.removed(dev); });
  }

  private removed(dev: Device): void {
    if (!dev.removing?.idle || dev.polling || this.devices.get(dev.id) !== dev) return;
    this.devices.delete(dev.id);
    if (this.devices.size === 0) this.watch.unref();
    dev.removing.done(dev.server.flushes);
  }

  /** Take every completion: after a slice of vCPU 0, or from the event loop whenever the ring posted one. */
  private pump(): void {
    try {
      // Each kick signals whether the pipe is empty or not, so it is emptied only now and then,
      // long before it could fill (64 KiB) and refuse a kick: a read per flush costs more here.
      if (this.kicksUnread >= KICKS_PER_DRAIN) {
        this.kicksUnread = 0;
        libc.drainFd(this.kickFds[0]);
      }
      this.ring.reap(this.onCompletion);
      for (let i = 0; i < this.answering.length; i++) {
        const a = this.answering[i]!.answers!;
        if (a.hasCompletions()) a.reap();
      }
      this.ring.submit();
    } catch (e) {
      this.fatal(`device I/O: ${(e as Error).message}`);
    }
  }

  /** The ring's completions (bound once: pump() runs at every flush). */
  private readonly onCompletion = (userData: number, res: number): void => { if (userData !== KICK) this.complete(userData, res); };

  private complete(userData: number, res: number): void {
    const dev = this.devices.get(userData >> 8);
    if (!dev) return;
    switch (userData & 0xff) {
      case NOTIFY:
        dev.polling = false;
        if (dev.removing) return this.removed(dev);
        if (res < 0) return dev.events.onFatal(`notify poll failed: ${libc.errnoName(-res)}`);
        // Reset the counter (it is > 0: the poll saw input) before the poll is armed again; a
        // notify from here on fires the new poll, and service() below sees what came before.
        libc.drainFd(dev.notifyFd);
        this.poll(dev);
        dev.server.service();
        return;
      case FSYNC: {
        const done = dev.flushDone;
        dev.flushDone = null;
        done?.(res < 0 ? new libc.SysError('fsync', -res) : null);
        return;
      }
      case WATCH:
        dev.watching = false;
        this.hurry(dev);
        return;
      default: // UNPOLL: the poll's own last completion is what counts
    }
  }

  private fatal(message: string): void {
    const devices = [...this.devices.values()];
    this.devices.clear();
    for (const d of devices) {
      if (d.removing) d.removing.done(0);
      else d.events.onFatal(message);
    }
  }
}
