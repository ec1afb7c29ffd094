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
 * - vCPU 0's slices take the completions before it enters the guest again
 *   (kvm/main-thread-work.ts), with no event-loop turn: the work signal is not
 *   the kick signal. Every completion also signals an eventfd that the event
 *   loop watches, for the times vCPU 0 is out of KVM_RUN (paused, between slices).
 */
import * as libc from '../../sys/libc.js';
import { IoUring, type Completion } from '../../sys/io-uring.js';
import { watchEventfd, type EventfdWatch } from '../../sys/fd-watch.js';
import { addMainThreadWork } from '../../kvm/main-thread-work.js';
import type { PmemDeviceData, PmemDeviceEvents, PmemIo, PmemIoDevice } from './pmem-io.js';
import { pmemServerFor } from './pmem-server.js';
import type { PmemRequestServer } from './pmem.js';

// A completion's tag: the device's id, shifted, and what the request was.
const NOTIFY = 1n, FSYNC = 2n, UNPOLL = 3n, KICK = 5n;
const tag = (id: number, kind: bigint) => (BigInt(id) << 8n) | kind;
const KICKS_PER_DRAIN = 128;

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
    addMainThreadWork({ pending: () => this.ring.hasCompletions(), run: () => this.pump() });
  }

  /** A failing poll hard-linked to the kick: the kick must still run (a kernel before 5.6 refuses one or the other). */
  private probeHardLink(): void {
    this.ring.reserve(2);
    this.ring.pollAdd(-1, 1n, false, true);
    this.ring.write(this.kickFds[1], this.kickByte, 1, 2n);
    this.ring.submit(2);
    const res = new Map<bigint, number>();
    this.ring.reap((c) => { res.set(c.userData, c.res); });
    libc.drainFd(this.kickFds[0]);
    libc.drainSignal(libc.workSignal());
    if (res.get(1n) !== -libc.ERRNO.EBADF || res.get(2n) !== 1) throw new libc.SysError('io_uring hard link', libc.ERRNO.EOPNOTSUPP);
  }

  add(d: PmemDeviceData, events: PmemDeviceEvents): PmemIoDevice {
    const id = this.nextId++;
    const dev: Device = {
      id, notifyFd: d.notifyFd, events, polling: false, flushDone: null, removing: null,
      server: pmemServerFor(d, {
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
      }),
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
      remove: () => removing ??= new Promise<number>((res) => this.remove(dev, res)),
    };
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
      this.ring.reap((c) => { if (c.userData !== KICK) this.complete(c); });
      this.ring.submit();
    } catch (e) {
      this.fatal(`device I/O: ${(e as Error).message}`);
    }
  }

  private complete(c: Completion): void {
    const dev = this.devices.get(Number(c.userData >> 8n));
    if (!dev) return;
    switch (c.userData & 0xffn) {
      case NOTIFY:
        dev.polling = false;
        if (dev.removing) return this.removed(dev);
        if (c.res < 0) return dev.events.onFatal(`notify poll failed: ${libc.errnoName(-c.res)}`);
        // Reset the counter (it is > 0: the poll saw input) before the poll is armed again; a
        // notify from here on fires the new poll, and service() below sees what came before.
        libc.drainFd(dev.notifyFd);
        this.poll(dev);
        dev.server.service();
        return;
      case FSYNC: {
        const done = dev.flushDone;
        dev.flushDone = null;
        done?.(c.res < 0 ? new libc.SysError('fsync', -c.res) : null);
        return;
      }
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
