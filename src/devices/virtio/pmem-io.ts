/**
 * Who serves the request queues of the process's virtio-pmem devices: the
 * main thread through an io_uring where the kernel offers one (pmem-reactor.ts:
 * no thread, no isolate), else one device I/O thread for all of them
 * (pmem-thread.ts: a worker, about 10 MiB and a second of start-up under
 * emulation). Chosen once, with the first device or ahead of hotplug.
 * PMEMVM_DEVICE_IO=thread (or =ring) asks for one of them.
 */
import type { Region } from '../../memory/guest-memory.js';
import type { IrqRoutes } from '../../kvm/irq-routes.js';
import { debug } from '../../debug.js';
import { UserError } from '../../errors.js';
import { PmemIoReactor } from './pmem-reactor.js';
import { PmemIoThread } from './pmem-thread.js';
import { kernelAnswersWanted } from './pmem-kernel-answer.js';

/** What device I/O needs to serve one device. */
export interface PmemDeviceData {
  sab: SharedArrayBuffer;
  queues: number;
  vectors: number;
  /** Guest RAM, where the rings and requests live. */
  regions: Region[];
  /** The backend file, or -1 (nothing to make durable). */
  backendFd: number;
  notifyFd: number;
  vmFd: number;
  intxGsi: number;
}

export interface PmemDeviceEvents {
  /** A request answered with an error, or a failed flush (for the log). */
  onError(message: string): void;
  /** The rings are unusable: the transport marks the device as needing reset. */
  onBroken(message: string): void;
  /** Device I/O failed: the machine cannot go on. */
  onFatal(message: string): void;
}

export interface PmemIoDevice {
  /**
   * The guest wrote the queue's notify register and the access came to pmemvm (no
   * ioeventfd took it): serve the queue. Call it from the main thread.
   */
  notify(): void;
  /** End the device's service after the flush in hand; resolves with its flush count once device I/O let go of it. */
  remove(): Promise<number>;
  /** The guest changed the device's MSI-X table, masks, enable bits or vectors (main thread). */
  interruptsChanged(): void;
  /** A queue is about to be withdrawn (reset): whatever device I/O writes to the rings without the lock lands first (main thread). */
  quiesce(): void;
}

export interface PmemIo {
  /**
   * Device I/O runs on the main thread, which also runs vCPU 0: a notify from vCPU 0
   * is served best straight from its exit (notify()), with no ioeventfd between.
   */
  readonly onMainThread: boolean;
  /** `routes`: the VM's GSI routes where KVM takes irqfds, so that the kernel may raise the device's MSIs itself. */
  add(device: PmemDeviceData, events: PmemDeviceEvents, routes?: IrqRoutes): PmemIoDevice;
  /** Get ready for devices that a monitor may hot-add, so that one costs no start-up then. */
  prestart(): void;
}

let io: PmemIo | null = null;

/** PMEMVM_DEVICE_IO, checked: undefined (choose), ring or thread. */
function wantedDeviceIo(): 'ring' | 'thread' | undefined {
  const wanted = process.env.PMEMVM_DEVICE_IO;
  if (wanted === undefined || wanted === 'ring' || wanted === 'thread') return wanted;
  throw new UserError(`PMEMVM_DEVICE_IO=${wanted}: use ring (io_uring on the main thread) or thread (a device I/O thread)`);
}

/** Refuse a bad PMEMVM_DEVICE_IO or PMEMVM_FLUSH_ANSWERS, or a ring asked for where there is none, before any backend is opened. */
export function checkDeviceIoChoice(): void {
  kernelAnswersWanted();
  if (wantedDeviceIo() === 'ring') pmemIo();
}

/** The process's device I/O (see above). */
export function pmemIo(): PmemIo {
  if (io) return io;
  const wanted = wantedDeviceIo();
  if (wanted !== 'thread') {
    try {
      io = new PmemIoReactor();
      debug('device I/O: io_uring on the main thread');
      return io;
    } catch (e) {
      if (wanted === 'ring') throw new UserError(`PMEMVM_DEVICE_IO=ring: no io_uring here (${(e as Error).message}); unset it, or use thread`);
      debug(`device I/O: no io_uring (${(e as Error).message}); one device I/O thread`);
    }
  }
  return io = new PmemIoThread();
}
