/**
 * A split virtqueue (virtio 1.2, 2.7): the device's side. Every address,
 * length and index comes from the guest, so each is checked: a bad ring or
 * chain throws VirtqueueError (the transport then marks the device broken),
 * and guest memory is reached only through GuestMemory's bounds checks.
 * Indirect descriptors and event index are not offered, so never accepted.
 */
export interface QueueMemory {
  read(gpa: number, len: number): Uint8Array;
  write(gpa: number, data: Uint8Array): void;
  u16(gpa: number): number;
  u32(gpa: number): number;
  u64(gpa: number): number;
  setU16(gpa: number, value: number): void;
  setU32(gpa: number, value: number): void;
}

export class VirtqueueError extends Error {}

export interface DescBuffer { addr: number; len: number }

/** Where the next used element goes (SplitQueue.nextUsed): guest addresses, and the index that publishes it. */
export interface UsedSlot { elem: number; idx: number; newIdx: number }

export interface Chain {
  head: number;
  /** Device-readable buffers, in order. */
  readable: DescBuffer[];
  /** Device-writable buffers, in order (after all readable ones). */
  writable: DescBuffer[];
}

/**
 * Buffer `n` of `list` set to (addr, len): the object already there is reused, so that a
 * queue's walks make no garbage once its chain has held a request of the same shape (a flush
 * is one readable and one writable buffer). pmemvm's code runs unoptimized, where every object
 * made per request adds to the scavenges that land inside the guest's flushes.
 */
const put = (list: DescBuffer[], n: number, addr: number, len: number): void => {
  const b = list[n];
  if (b) { b.addr = addr; b.len = len; } else list.push({ addr, len });
};
/** Drop what an earlier, longer chain left past the first `n` buffers. */
const trim = (list: DescBuffer[], n: number): void => { if (list.length > n) list.length = n; };

const DESC_SIZE = 16;
const F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;
/** Chains longer than this are refused even in a large queue (no request needs more). */
const MAX_CHAIN_BYTES = 1 << 30;

export class SplitQueue {
  private lastAvail = 0;
  private usedIdx = 0;
  /** What pop() returns, rewritten by each walk. */
  private readonly chain: Chain = { head: 0, readable: [], writable: [] };

  constructor(
    private readonly mem: QueueMemory,
    readonly size: number,
    readonly desc: number,
    readonly avail: number,
    readonly used: number,
  ) {
    if (size < 1 || size > 32768 || (size & (size - 1)) !== 0) throw new VirtqueueError(`queue size ${size} is not a power of two up to 32768`);
    // The rings must lie in guest memory (checked once here; reads check again).
    for (const [what, at, len] of [['descriptor table', desc, DESC_SIZE * size], ['available ring', avail, 6 + 2 * size], ['used ring', used, 6 + 8 * size]] as const) {
      if (!Number.isSafeInteger(at) || at <= 0) throw new VirtqueueError(`${what} address 0x${at.toString(16)} is invalid`);
      try { mem.read(at, len); } catch { throw new VirtqueueError(`${what} at 0x${at.toString(16)}+0x${len.toString(16)} is outside guest memory`); }
    }
  }

  /**
   * The next available chain, or null when the driver has offered nothing new. The chain is
   * the queue's own and the next pop() rewrites it: a caller that keeps a request past that
   * copies what it needs (virtio-pmem holds one request at a time, and pops the next only
   * after answering it).
   */
  pop(): Chain | null {
    const pending = this.offered();
    if (pending === 0) return null;
    if (pending > this.size) throw new VirtqueueError(`available index moved by ${pending}, more than the ${this.size} entries`);
    const head = this.mem.u16(this.avail + 4 + 2 * (this.lastAvail % this.size));
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    return this.walk(head);
  }

  /** The driver has offered chains not yet popped. */
  hasAvailable(): boolean { return this.offered() !== 0; }

  /** How far the driver's available index is ahead of what was popped. */
  private offered(): number { return (this.mem.u16(this.avail + 2) - this.lastAvail) & 0xffff; }

  private walk(head: number): Chain {
    const chain = this.chain;
    chain.head = head;
    let index = head;
    let total = 0, readable = 0, writable = 0;
    for (let n = 0; ; n++) {
      if (index >= this.size) throw new VirtqueueError(`descriptor index ${index} is outside the ${this.size}-entry table`);
      if (n >= this.size) throw new VirtqueueError(`descriptor chain from ${head} loops or is longer than the queue`);
      const at = this.desc + DESC_SIZE * index;
      const addr = this.mem.u64(at);
      const len = this.mem.u32(at + 8);
      const flags = this.mem.u16(at + 12);
      if (flags & F_INDIRECT) throw new VirtqueueError('indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not offered');
      total += len;
      if (total > MAX_CHAIN_BYTES) throw new VirtqueueError(`descriptor chain from ${head} is over ${MAX_CHAIN_BYTES} bytes`);
      if (flags & F_WRITE) put(chain.writable, writable++, addr, len);
      else if (writable > 0) throw new VirtqueueError('a device-readable descriptor follows a device-writable one');
      else put(chain.readable, readable++, addr, len);
      if (!(flags & F_NEXT)) {
        trim(chain.readable, readable);
        trim(chain.writable, writable);
        return chain;
      }
      index = this.mem.u16(at + 14);
    }
  }

  /** Return a chain to the driver; `written` bytes went into its writable buffers. */
  push(head: number, written: number): void {
    const elem = this.used + 4 + 8 * (this.usedIdx % this.size);
    this.mem.setU32(elem, head);
    this.mem.setU32(elem + 4, written);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    // The element is written before the index that publishes it.
    this.mem.setU16(this.used + 2, this.usedIdx);
  }

  /** Where push() writes next, written into `into`: the element's and the index's guest addresses, and the index it then publishes. */
  nextUsed(into: UsedSlot): void {
    into.elem = this.used + 4 + 8 * (this.usedIdx % this.size);
    into.idx = this.used + 2;
    into.newIdx = (this.usedIdx + 1) & 0xffff;
  }

  /** Someone else wrote exactly what nextUsed() described (device I/O in the kernel): the next push goes after it. */
  pushedElsewhere(): void {
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
  }

  /** Read `len` bytes gathered from the readable buffers (fewer if they are shorter). */
  gather(chain: Chain, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let at = 0;
    for (const b of chain.readable) {
      if (at >= len) break;
      const n = Math.min(b.len, len - at);
      out.set(this.mem.read(b.addr, n), at);
      at += n;
    }
    return out.subarray(0, at);
  }

  /** Scatter `data` into the writable buffers; returns the bytes written. */
  scatter(chain: Chain, data: Uint8Array): number {
    let at = 0;
    for (const b of chain.writable) {
      if (at >= data.length) break;
      const n = Math.min(b.len, data.length - at);
      this.mem.write(b.addr, data.subarray(at, at + n));
      at += n;
    }
    return at;
  }
}
