/**
 * virtio-pmem (virtio 1.2, 5.19; device id 27): the backend is mapped into
 * the guest at `start`; the guest's flush requests make it durable.
 *
 * VirtioPmem is what the transport shows (id, features, configuration).
 * PmemRequestServer answers the request queue; it runs on the device's own
 * thread (pmem-worker.ts), so a flush never holds up a vCPU or the main
 * thread: each request is one fsync of the backend, answered in arrival order,
 * and its interrupt is raised only after the used ring says so. EIO and
 * friends become ret = 1.
 */
import { GuestMemoryError } from '../../memory/guest-memory.js';
import type { IrqSink } from '../irq-sink.js';
import { SplitQueue, VirtqueueError, type Chain, type QueueMemory } from './queue.js';
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
  /** Make everything written to the backend durable (fsync); throws on failure. */
  flush: () => void;
  irq: IrqSink;
  /** A request pmemvm answered with an error, or a failed flush, for the log. */
  onError?: (message: string) => void;
  /** The rings are unusable: the transport marks the device as needing reset. */
  onBroken: (message: string) => void;
}

const bytes = (bufs: readonly { len: number }[]) => { let n = 0; for (let i = 0; i < bufs.length; i++) n += bufs[i]!.len; return n; };
const le32 = (b: Uint8Array) => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;

export class PmemRequestServer {
  private queue: SplitQueue | null = null;
  private gen = 0;
  /** A generation whose rings proved bad: not served again until the driver resets. */
  private deadGen: number | null = null;
  /** Host fsyncs done for the guest. */
  flushes = 0;

  constructor(private readonly o: PmemServerOptions) {}

  /** Answer every request the driver has made available (called after each notify). */
  service(): void {
    const q = this.currentQueue();
    if (!q) return;
    for (;;) {
      let chain: Chain | null;
      let ret: number;
      try {
        chain = q.pop();
        if (!chain) return;
        ret = this.perform(q, chain);
      } catch (e) {
        return this.broken(e);
      }
      const err = this.answer(q, chain, ret);
      if (err) return this.broken(err);
    }
  }

  /** The queue as published now; a new generation (reset, re-enable) starts a fresh view. */
  private currentQueue(): SplitQueue | null {
    if (this.queue && this.o.shared.current(QUEUE, this.gen)) return this.queue; // the usual case, without the lock
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

  private perform(q: SplitQueue, chain: Chain): number {
    if (bytes(chain.readable) < 4 || bytes(chain.writable) < 4) {
      this.o.onError?.('virtio-pmem: request without a 4-byte device-readable type and a 4-byte device-writable status; answered with an error');
      return RET_EIO;
    }
    // Linux puts the whole request in one buffer: read it in place (no garbage on the flush path).
    const first = chain.readable[0]!;
    const type = first.len >= 4 ? this.o.memory.u32(first.addr) : le32(q.gather(chain, 4));
    if (type !== REQ_TYPE_FLUSH) {
      this.o.onError?.(`virtio-pmem: unknown request type ${type}`);
      return RET_EIO;
    }
    try {
      this.o.flush();
      this.flushes++;
      return RET_OK;
    } catch (e) {
      this.o.onError?.(`virtio-pmem: flush failed: ${(e as Error).message}`);
      return RET_EIO;
    }
  }

  /** Status, used ring, interrupt, as one step under the lock; dropped if the driver reset the queue meanwhile. */
  private answer(q: SplitQueue, chain: Chain, ret: number): Error | null {
    const sh = this.o.shared;
    sh.lock();
    try {
      if (!sh.current(QUEUE, this.gen)) return null;
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

  private broken(e: unknown): void {
    if (!(e instanceof VirtqueueError || e instanceof GuestMemoryError)) throw e;
    this.queue = null;
    this.deadGen = this.gen;
    this.o.onBroken(e.message);
  }
}
