/**
 * Address-range dispatch for port I/O and MMIO.
 *
 * Value shape: accesses of 1, 2 and 4 bytes carry a `number` (unsigned,
 * little-endian, masked to the size). 8-byte accesses exist only on MMIO;
 * they use `bigint` through `read64`/`write64`. A device that does not
 * implement those gets two 4-byte accesses (low half at the offset, high
 * half at offset + 4), which is what most 64-bit registers built from two
 * 32-bit halves expect anyway.
 *
 * A device that declares `width` (its register width, e.g. 1 for an 8-bit
 * ISA chip) never sees a wider access: the bus splits it into width-sized
 * little-endian pieces at consecutive addresses, as the ISA bus does, and
 * each piece is dispatched on its own (a piece past the device's range reads
 * as unmapped).
 */

import { biased, fromHalves, toHalves } from '../sys/u64-halves.js';

export type AccessSize = 1 | 2 | 4;

export interface BusDevice {
  /** `offset` is relative to the base of the range the device was registered at. */
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  /** Widest access the device takes whole; wider ones are split by the bus. */
  readonly width?: AccessSize;
  read64?(offset: number): bigint;
  write64?(offset: number, value: bigint): void;
}

export interface BusMapping {
  readonly base: number;
  readonly len: number;
  /** base + len, kept: (unoptimized) the sum past 31 bits is a new heap object at every lookup. */
  readonly end: number;
  readonly device: BusDevice;
  readonly name: string;
  /**
   * base and end as 32-bit halves, the low ones biased (u64-halves.ts): small integers that
   * compare in address order. pmemvm's code runs unoptimized, where loading a field that holds
   * an address past 2 GiB (every PCI BAR) makes a heap number each time: a lookup by halves
   * (findHalves) makes none.
   */
  readonly baseHi: number;
  readonly baseLo: number;
  readonly endHi: number;
  readonly endLo: number;
}

/** Called on accesses nobody claims, for debugging; reads still return all-ones. */
export type UnmappedHook = (kind: 'read' | 'write', addr: number, size: number, value?: number | bigint) => void;

const MASK: Record<AccessSize, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };

export class IoBus {
  /** Sorted by base; ranges never overlap. */
  private readonly maps: BusMapping[] = [];
  unmappedReads = 0;
  unmappedWrites = 0;
  onUnmapped: UnmappedHook | undefined;

  constructor(readonly name = 'bus') {}

  /** Map `[base, base + len)` to `device`. Throws if it overlaps an existing range. */
  register(base: number, len: number, device: BusDevice, name = 'device'): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(len) || base < 0 || len <= 0) {
      throw new RangeError(`${this.name}: bad range base=${base} len=${len} for ${name}`);
    }
    const i = this.insertionIndex(base);
    const prev = this.maps[i - 1];
    const next = this.maps[i];
    const clash = (prev && prev.base + prev.len > base) ? prev : (next && base + len > next.base) ? next : undefined;
    if (clash) {
      throw new Error(
        `${this.name}: ${name} at ${hex(base)}+${hex(len)} overlaps ${clash.name} at ${hex(clash.base)}+${hex(clash.len)}`,
      );
    }
    const h = new Int32Array(4);
    toHalves(base, h, 0);
    toHalves(base + len, h, 2);
    this.maps.splice(i, 0, { base, len, end: base + len, device, name, baseHi: h[1]!, baseLo: biased(h[0]!), endHi: h[3]!, endLo: biased(h[2]!) });
  }

  /** Remove the range starting exactly at `base`; returns whether one was removed. */
  unregister(base: number): boolean {
    const i = this.maps.findIndex((m) => m.base === base);
    if (i < 0) return false;
    this.maps.splice(i, 1);
    return true;
  }

  /** The mapping containing `addr`, if any. */
  find(addr: number): BusMapping | undefined {
    // Binary search for the last mapping with base <= addr.
    let lo = 0;
    let hi = this.maps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = this.maps[mid]!;
      if (addr < m.base) hi = mid - 1;
      else if (addr >= m.end) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  /** The mapping containing the address whose halves are `lo`, `hi` (as getInt32 reads them), if any; no heap number made. */
  findHalves(lo: number, hi: number): BusMapping | undefined {
    const b = biased(lo);
    let l = 0;
    let h = this.maps.length - 1;
    while (l <= h) {
      const mid = (l + h) >> 1;
      const m = this.maps[mid]!;
      if (hi < m.baseHi || (hi === m.baseHi && b < m.baseLo)) h = mid - 1;
      else if (hi > m.endHi || (hi === m.endHi && b >= m.endLo)) l = mid + 1;
      else return m;
    }
    return undefined;
  }

  /**
   * An access of 1, 2 or 4 bytes at the address whose halves are `lo`, `hi` (KVM's MMIO exits):
   * the common case, one device taking the whole access, found and offset with small integers
   * only; anything else (unmapped, split by width) goes the way of write() and read().
   */
  writeHalves(lo: number, hi: number, size: AccessSize, value: number): void {
    const m = this.takingWhole(lo, hi, size);
    if (!m) return this.write(fromHalves(lo >>> 0, hi >>> 0), size, value);
    m.device.write(biased(lo) - m.baseLo, size, (value & MASK[size]) >>> 0);
  }
  readHalves(lo: number, hi: number, size: AccessSize): number {
    const m = this.takingWhole(lo, hi, size);
    if (!m) return this.read(fromHalves(lo >>> 0, hi >>> 0), size);
    return (m.device.read(biased(lo) - m.baseLo, size) & MASK[size]) >>> 0;
  }

  /** The mapping that takes a whole access of `size` bytes at these halves, its offset a small integer (same high half); else none. */
  private takingWhole(lo: number, hi: number, size: AccessSize): BusMapping | undefined {
    const m = this.findHalves(lo, hi);
    if (!m || hi !== m.baseHi) return undefined;
    const w = m.device.width;
    return w !== undefined && w < size ? undefined : m;
  }

  mappings(): readonly BusMapping[] {
    return this.maps;
  }

  read(addr: number, size: AccessSize): number {
    const m = this.find(addr);
    if (!m) {
      this.unmappedReads++;
      this.onUnmapped?.('read', addr, size);
      return MASK[size];
    }
    const w = m.device.width;
    if (w !== undefined && w < size) {
      let v = 0;
      for (let i = 0; i < size; i += w) v += this.read(addr + i, w) * 2 ** (8 * i);
      return v;
    }
    return (m.device.read(offsetIn(m, addr), size) & MASK[size]) >>> 0;
  }

  write(addr: number, size: AccessSize, value: number): void {
    const m = this.find(addr);
    if (!m) {
      this.unmappedWrites++;
      this.onUnmapped?.('write', addr, size, value);
      return;
    }
    const v = (value & MASK[size]) >>> 0;
    const w = m.device.width;
    if (w !== undefined && w < size) {
      for (let i = 0; i < size; i += w) this.write(addr + i, w, Math.floor(v / 2 ** (8 * i)) & MASK[w]);
      return;
    }
    m.device.write(offsetIn(m, addr), size, v);
  }

  read64(addr: number): bigint {
    const m = this.find(addr);
    if (m?.device.read64 && (m.device.width === undefined || m.device.width >= 4)) {
      return BigInt.asUintN(64, m.device.read64(addr - m.base));
    }
    if (!m) {
      this.unmappedReads++;
      this.onUnmapped?.('read', addr, 8);
      return 0xffff_ffff_ffff_ffffn;
    }
    return BigInt(this.read(addr, 4)) | (BigInt(this.read(addr + 4, 4)) << 32n);
  }

  write64(addr: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    const m = this.find(addr);
    if (m?.device.write64 && (m.device.width === undefined || m.device.width >= 4)) {
      m.device.write64(addr - m.base, v);
      return;
    }
    if (!m) {
      this.unmappedWrites++;
      this.onUnmapped?.('write', addr, 8, v);
      return;
    }
    this.write(addr, 4, Number(v & 0xffff_ffffn));
    this.write(addr + 4, 4, Number(v >> 32n));
  }

  /**
   * Read `out.length` bytes (little-endian) at `addr` into `out`, the shape
   * KVM's I/O and MMIO exits use. Lengths other than 1, 2, 4, 8 go bytewise.
   */
  readInto(addr: number, out: Uint8Array): void {
    const n = out.length;
    if (n === 8) {
      let v = this.read64(addr);
      for (let i = 0; i < 8; i++, v >>= 8n) out[i] = Number(v & 0xffn);
    } else if (n === 1 || n === 2 || n === 4) {
      putLittleEndian(out, this.read(addr, n));
    } else {
      for (let i = 0; i < n; i++) out[i] = this.read(addr + i, 1);
    }
  }

  /** Write the bytes of `data` (little-endian) at `addr`; see `readInto`. */
  writeFrom(addr: number, data: Uint8Array): void {
    const n = data.length;
    if (n === 8) {
      let v = 0n;
      for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(data[i]!);
      this.write64(addr, v);
    } else if (n === 1 || n === 2 || n === 4) {
      this.write(addr, n, littleEndianValue(data));
    } else {
      for (let i = 0; i < n; i++) this.write(addr + i, 1, data[i]!);
    }
  }

  /** readInto() and writeFrom() at the address whose halves are `lo`, `hi` (see writeHalves). */
  readIntoHalves(lo: number, hi: number, out: Uint8Array): void {
    const n = out.length;
    if (n !== 1 && n !== 2 && n !== 4) return this.readInto(fromHalves(lo >>> 0, hi >>> 0), out);
    putLittleEndian(out, this.readHalves(lo, hi, n));
  }
  writeFromHalves(lo: number, hi: number, data: Uint8Array): void {
    const n = data.length;
    if (n !== 1 && n !== 2 && n !== 4) return this.writeFrom(fromHalves(lo >>> 0, hi >>> 0), data);
    this.writeHalves(lo, hi, n, littleEndianValue(data));
  }

  private insertionIndex(base: number): number {
    let lo = 0;
    let hi = this.maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.maps[mid]!.base < base) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * `addr`'s offset in `m` as a small integer. pmemvm's code runs unoptimized (bin/pmemvm.cjs),
 * where the difference of two addresses past 2 GiB (every PCI BAR) is a heap number, and every
 * sum the device then makes from it another: a virtio notify went through a dozen.
 */
function offsetIn(m: BusMapping, addr: number): number {
  const off = addr - m.base;
  return off <= 0x7fff_ffff ? off | 0 : off;
}

/** The value of 1, 2 or 4 little-endian bytes. */
function littleEndianValue(data: Uint8Array): number {
  let v = 0;
  for (let i = data.length - 1; i >= 0; i--) v = v * 256 + data[i]!;
  return v;
}

/** `v`'s low bytes into `out`, little-endian (1, 2 or 4 of them). */
function putLittleEndian(out: Uint8Array, v: number): void {
  for (let i = 0; i < out.length; i++) out[i] = (v >>> (8 * i)) & 0xff;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}
