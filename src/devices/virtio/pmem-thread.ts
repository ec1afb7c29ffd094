/**
 * The device I/O thread, where the main thread cannot serve devices itself
 * (pmem-io.ts): one worker thread (pmem-worker.ts) serves the request
 * queues of every virtio-pmem device in the process. It starts with the first
 * device, or earlier when a monitor may hot-add one (prestart), and stays; a device added later, at start or by hotplug, costs a
 * message and a few objects in that thread, not a JavaScript isolate of its
 * own (about 10 MiB and a second of start-up under emulation each).
 * Kept beside the worker so the worker's URL is the same relative path in
 * dist/ and in the bundle.
 */
import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../../lazy-builtins.js';
import * as libc from '../../sys/libc.js';
import type { PmemDeviceData, PmemDeviceEvents, PmemIo, PmemIoDevice } from './pmem-io.js';

/** Messages to the I/O thread. */
export type PmemIoRequest = { type: 'add'; id: number; device: PmemDeviceData } | { type: 'remove'; id: number };
/** Messages from it, each about one device. */
export type PmemIoEvent =
  | { type: 'error' | 'broken'; id: number; message: string }
  | { type: 'removed'; id: number; flushes: number };

interface Entry { events: PmemDeviceEvents; removed?: (flushes: number) => void }

/** An eventfd increment of 1. */
const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

export class PmemIoThread implements PmemIo {
  readonly onMainThread = false;
  private worker: Worker | null = null;
  private readonly devices = new Map<number, Entry>();
  private nextId = 1;

  add(device: PmemDeviceData, events: PmemDeviceEvents): PmemIoDevice {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    const entry: Entry = { events };
    this.devices.set(id, entry);
    this.hold();
    worker.postMessage({ type: 'add', id, device } satisfies PmemIoRequest);
    let removing: Promise<number> | null = null;
    return {
      // The thread sleeps on the notify eventfd: a notify that exits to pmemvm is passed on there.
      notify: () => { libc.write(device.notifyFd, ONE); },
      // Its answers are written under the transport's lock and raised with KVM_SIGNAL_MSI: nothing to do.
      interruptsChanged: () => {},
      quiesce: () => {},
      remove: () => removing ??= new Promise<number>((res) => {
        if (!this.devices.has(id) || this.worker !== worker) { res(0); return; } // the thread is gone, and the device with it
        entry.removed = res;
        worker.postMessage({ type: 'remove', id } satisfies PmemIoRequest);
      }),
    };
  }

  /**
   * Start the thread before any device needs it: a hot-added device then costs a
   * message, not an isolate's start (about a second under emulation, which the
   * guest's probe of the new device would wait for).
   */
  prestart(): void {
    if (this.worker) return;
    this.start();
    this.hold();
  }

  private start(): Worker {
    const worker = new (workerThreads().Worker)(new URL('./pmem-worker.js', import.meta.url));
    worker.on('message', (e: PmemIoEvent) => {
      const d = this.devices.get(e.id);
      if (!d) return;
      if (e.type === 'error') d.events.onError(e.message);
      else if (e.type === 'broken') d.events.onBroken(e.message);
      else if (e.type === 'removed') { this.devices.delete(e.id); this.hold(); d.removed?.(e.flushes); }
    });
    const fail = (message: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      const devices = [...this.devices.values()];
      this.devices.clear();
      for (const d of devices) {
        if (d.removed) d.removed(0);
        else d.events.onFatal(message);
      }
    };
    worker.on('error', (e) => fail(`device I/O thread: ${e.message}`));
    worker.on('exit', () => fail('device I/O thread ended'));
    this.worker = worker;
    return worker;
  }

  /**
   * The thread keeps the process alive while it serves a device (a removal's answer
   * must arrive), and not when idle. Called after the listeners are on: adding a
   * 'message' listener refs the worker again.
   */
  private hold(): void {
    if (this.devices.size > 0) this.worker?.ref();
    else this.worker?.unref();
  }
}
