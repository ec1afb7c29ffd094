/**
 * virtio-pmem (virtio 1.2, 5.19; device id 27): the backend is mapped into
 * the guest at `start`; the guest's flush requests make it durable. A flush
 * is one fsync of the backend file, run off the vCPU and main threads (libuv's
 * pool), completed in arrival order, and the interrupt is raised only after
 * the used ring says so. EIO and friends become ret = 1.
 */
import type { Chain, SplitQueue } from './queue.js';
import type { VirtioDeviceModel, VirtioPciTransport } from './pci.js';

export const VIRTIO_ID_PMEM = 27;
const REQ_TYPE_FLUSH = 0;
const RET_OK = 0, RET_EIO = 1;

export interface PmemFlusher {
  /** Make everything written to the backend durable (fsync); rejects on failure. */
  flush(): Promise<void>;
}

export interface VirtioPmemOptions {
  start: number;
  size: number;
  flusher: PmemFlusher;
  onError?: (message: string) => void;
}

export class VirtioPmem implements VirtioDeviceModel {
  readonly deviceId = VIRTIO_ID_PMEM;
  readonly features = 0n;
  readonly queueSizes = [128];
  readonly config = new Uint8Array(16);
  /** Flushes the guest asked for and pmemvm performed (host fsyncs). */
  flushes = 0;
  private tail: Promise<void> = Promise.resolve();
  private epoch = 0; // bumped by reset: answers for an older epoch are dropped

  constructor(private readonly o: VirtioPmemOptions) {
    const v = new DataView(this.config.buffer);
    v.setBigUint64(0, BigInt(o.start), true);
    v.setBigUint64(8, BigInt(o.size), true);
  }

  reset(): void { this.epoch++; }

  notify(_index: number, queue: SplitQueue, transport: VirtioPciTransport): void {
    for (let chain = queue.pop(); chain; chain = queue.pop()) this.request(chain, queue, transport);
  }

  private request(chain: Chain, queue: SplitQueue, transport: VirtioPciTransport): void {
    const epoch = this.epoch;
    const answer = (ret: number) => {
      if (epoch !== this.epoch) return; // the driver reset the device meanwhile
      try {
        const written = chain.writable.length ? queue.scatter(chain, Uint8Array.of(ret, 0, 0, 0)) : 0;
        queue.push(chain.head, written);
        transport.interrupt();
      } catch (e) {
        // A status buffer outside guest memory: the device is broken, pmemvm is not.
        transport.broken((e as Error).message);
      }
    };
    const req = queue.gather(chain, 4);
    if (req.length < 4 || chain.writable.length === 0 || chain.writable.reduce((n, b) => n + b.len, 0) < 4) {
      this.o.onError?.(`virtio-pmem: request without a 4-byte device-readable type and a 4-byte device-writable status; answered with an error`);
      this.inOrder(() => answer(RET_EIO));
      return;
    }
    const type = req[0]! | (req[1]! << 8) | (req[2]! << 16) | (req[3]! << 24);
    if (type !== REQ_TYPE_FLUSH) {
      this.o.onError?.(`virtio-pmem: unknown request type ${type >>> 0}`);
      this.inOrder(() => answer(RET_EIO));
      return;
    }
    // In arrival order: each flush waits for the one before it, then does its own fsync.
    this.tail = this.tail.then(async () => {
      let ret = RET_OK;
      try {
        await this.o.flusher.flush();
        this.flushes++;
      } catch (e) {
        this.o.onError?.(`virtio-pmem: flush failed: ${(e as Error).message}`);
        ret = RET_EIO;
      }
      answer(ret);
    });
  }

  private inOrder(f: () => void): void { this.tail = this.tail.then(f); }
}
