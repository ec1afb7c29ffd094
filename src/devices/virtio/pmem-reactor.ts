/**
 * Device I/O on the main thread, with no thread or isolate of its own: the
 * request queues of every virtio-pmem device are served by the thread that
 * also runs vCPU 0 and the monitors, through one io_uring (sys/io-uring.ts).
 *
 * - Each device's notify eventfd (KVM signals it when the guest writes the
 *   queue's notify register) has a multishot poll in the ring. Its completion
 *   is task work of this thread, which takes the thread out of KVM_RUN at once
 *   (EINTR), as the kick signal does; the event loop then serves the queue.
 * - Each flush is an fsync in the ring, done by the kernel's own worker
 *   threads, so neither vCPU 0 nor the monitor waits for a disk, and one
 *   device's slow disk does not hold up another device's flush.
 * - Every completion signals one eventfd, which the event loop watches. A
 *   one-shot poll on that eventfd, linked to a one-byte write to a pipe that
 *   signals this thread (O_ASYNC, the vCPU kick signal), turns every
 *   completion into a kick, re-armed after each round. Task work alone would
 *   not do: it is spent on whatever system call returns first, so a completion
 *   that comes while this thread runs JavaScript would leave vCPU 0 in KVM_RUN
 *   until its next exit; the kick signal stays pending while JavaScript runs
 *   (it is blocked outside KVM_RUN), so KVM_RUN returns at once.
 * - vCPU 0's slices take the completions before it enters the guest again
 *   (kvm/main-thread-work.ts), without waiting for an event-loop turn.
 */
import * as libc from '../../sys/libc.js';
import { IoUring, CQE_F_MORE, type Completion } from '../../sys/io-uring.js';
import { watchEventfd, type EventfdWatch } from '../../sys/fd-watch.js';
import { addMainThreadWork } from '../../kvm/main-thread-work.js';
import type { PmemDeviceData, PmemDeviceEvents, PmemIo, PmemIoDevice } from './pmem-io.js';
import { pmemServerFor } from './pmem-server.js';
import type { PmemRequestServer } from './pmem.js';

// A completion's tag: the device's id, shifted, and what the request was.
const NOTIFY = 1n, FSYNC = 2n, UNPOLL = 3n, WAKE = 4n, KICK = 5n;
const tag = (id: number, kind: bigint) => (BigInt(id) << 8n) | kind;

interface Device {
  readonly id: number;
  readonly server: PmemRequestServer;
  readonly notifyFd: number;
  readonly events: PmemDeviceEvents;
  /** The notify poll is in the ring (its last completion, without CQE_F_MORE, not yet seen). */
  polling: boolean;
  /** The fsync in the ring: its caller's callback. */
  flushDone: ((error: Error | null) => void) | null;
  /** Set by remove(): resolves once the flush in hand is answered and the poll is gone. */
  removing: { idle: boolean; done: (flushes: number) => void } | null;
}

export class PmemIoReactor implements PmemIo {
  private readonly ring: IoUring;
  private readonly wakeFd: number;
  private readonly watch: EventfdWatch;
  /** The pipe whose input signals this thread, and a page holding the byte written to it. */
  private readonly kickFds: [number, number];
  private readonly kickByte: bigint;
  private readonly devices = new Map<number, Device>();
  private nextId = 1;

  /** Throws SysError where io_uring is missing, refused, or too old (multishot poll: Linux 5.13). */
  constructor() {
    this.ring = new IoUring(64);
    const fds: number[] = [];
    try {
      this.wakeFd = libc.eventfd(libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
      fds.push(this.wakeFd);
      this.probeMultishot(this.wakeFd);
      this.ring.registerEventfd(this.wakeFd);
      this.kickFds = libc.pipe();
      fds.push(...this.kickFds);
      const sig = libc.kickSignal();
      libc.installKickHandler(sig);
      libc.signalThreadOnInput(this.kickFds[0], libc.gettid(), sig);
      this.kickByte = libc.mmap(libc.pageSize(), libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
      new Uint8Array(libc.view(this.kickByte, 1))[0] = 1;
      this.watch = watchEventfd(this.wakeFd, () => this.pump(), (e) => this.fatal(`device I/O: ${e.message}`));
    } catch (e) {
      for (const fd of fds) libc.close(fd);
      this.ring.close();
      throw e;
    }
    this.armWake();
    this.ring.submit();
    // Like an idle worker, the watch does not keep the process alive.
    this.watch.unref();
    addMainThreadWork({ pending: () => this.ring.hasCompletions(), run: () => this.pump() });
  }

  /** A multishot poll on an idle eventfd, cancelled at once: it ends with ECANCELED, or EINVAL before Linux 5.13. */
  private probeMultishot(fd: number): void {
    this.ring.pollAdd(fd, 1n, true);
    this.ring.pollRemove(1n, 2n);
    this.ring.submit(2);
    let res = 0;
    this.ring.reap((c) => { if (c.userData === 1n) res = c.res; });
    if (res !== -libc.ERRNO.ECANCELED) throw new libc.SysError('io_uring multishot poll', res < 0 ? -res : libc.ERRNO.EOPNOTSUPP);
  }

  add(d: PmemDeviceData, events: PmemDeviceEvents): PmemIoDevice {
    const id = this.nextId++;
    const dev: Device = {
      id, notifyFd: d.notifyFd, events, polling: false, flushDone: null, removing: null,
      server: pmemServerFor(d, {
        flush: (done) => {
          if (d.backendFd < 0) return done(null);
          dev.flushDone = done;
          this.ring.fsync(d.backendFd, tag(id, FSYNC), false);
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
    return { remove: () => removing ??= new Promise<number>((res) => this.remove(dev, res)) };
  }

  /** Nothing to start ahead of hotplug: a device costs a poll in the ring. */
  prestart(): void {}

  private poll(dev: Device): void {
    dev.polling = true;
    this.ring.pollAdd(dev.notifyFd, tag(dev.id, NOTIFY), true);
  }

  /** The poll on the completion eventfd and the kick it sets off, in one batch (a chain is never split). */
  private armWake(): void {
    this.ring.reserve(2);
    this.ring.pollAdd(this.wakeFd, WAKE, false, true);
    this.ring.write(this.kickFds[1], this.kickByte, 1, KICK);
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

  /** Take every completion; called by the event loop whenever the ring posted one. */
  private pump(): void {
    try {
      // Reset first: a completion posted from here on signals it again, and the re-armed poll sees that.
      libc.drainFd(this.wakeFd);
      libc.drainFd(this.kickFds[0]);
      let kicked = false;
      this.ring.reap((c) => {
        if (c.userData === KICK) kicked = true; // the chain's last request: arm it again
        else if (c.userData !== WAKE) this.complete(c);
      });
      if (kicked) this.armWake();
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
        if (!(c.flags & CQE_F_MORE)) {
          dev.polling = false;
          if (dev.removing) return this.removed(dev);
          // The ring ended the poll (its completion queue was full): arm it again.
          if (c.res < 0 && c.res !== -libc.ERRNO.ECANCELED) return dev.events.onFatal(`notify poll failed: ${libc.errnoName(-c.res)}`);
          this.poll(dev);
        }
        if (!dev.removing) dev.server.service();
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
