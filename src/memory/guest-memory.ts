/**
 * The guest-physical address space as the VMM sees it: RAM and device
 * memory regions backed by host mappings. Every access from device models
 * goes through here and is bounds-checked, so a guest-provided address can
 * never reach host memory outside a region.
 */
import * as libc from '../sys/libc.js';
import { addToHalves, fromHalves, toHalves } from '../sys/u64-halves.js';

const CHUNK = 1 << 30; // koffi views must stay ≤ 1 GiB

export interface Region {
  name: string;
  gpa: number;      // guest-physical start
  size: number;     // bytes
  hostAddr: bigint; // host virtual address of the mapping
}

class MappedRegion implements Region {
  private chunks: Uint8Array[] = [];
  private views: DataView[] = [];
  /** hostAddr as a number: exact, user-space addresses are below 2^47 (no BigInt on the flush path). */
  readonly hostBase: number;
  /** hostAddr as signed 32-bit halves (u64-halves.ts): host addresses for the kernel, made with no heap number. */
  readonly hostHalves = new Int32Array(2);
  /** gpa + size, kept: the sum is a heap number for a region above 2 GiB, made again at every access otherwise. */
  readonly end: number;
  constructor(readonly name: string, readonly gpa: number, readonly size: number, readonly hostAddr: bigint) {
    this.end = gpa + size;
    this.hostBase = Number(hostAddr);
    toHalves(this.hostBase, this.hostHalves, 0);
    for (let off = 0; off < size; off += CHUNK) {
      const len = Math.min(CHUNK, size - off);
      const buf = libc.view(hostAddr + BigInt(off), len);
      this.chunks.push(new Uint8Array(buf));
      this.views.push(new DataView(buf));
    }
  }
  /** The DataView of the chunk holding [off, off+len), or null if the range crosses chunks. */
  chunkView(off: number, len: number): DataView | null {
    if (off + len <= CHUNK) return this.views[0]!; // the usual case, without a division
    const i = Math.floor(off / CHUNK);
    return off - i * CHUNK + len > CHUNK ? null : this.views[i]!;
  }
  /** Bytes [off, off+len) if they lie in one 1 GiB chunk, else null. */
  slice(off: number, len: number): Uint8Array | null {
    const i = Math.floor(off / CHUNK), o = off - i * CHUNK;
    if (o + len > CHUNK) return null;
    return this.chunks[i].subarray(o, o + len);
  }
}

export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
}

export class GuestMemory {
  private regions: MappedRegion[] = [];

  add(name: string, gpa: number, size: number, hostAddr: bigint): Region {
    for (const r of this.regions) {
      if (gpa < r.gpa + r.size && r.gpa < gpa + size) {
        throw new Error(`guest memory region ${name} overlaps ${r.name}`);
      }
    }
    const r = new MappedRegion(name, gpa, size, hostAddr);
    this.regions.push(r);
    this.regions.sort((a, b) => a.gpa - b.gpa);
    return r;
  }

  remove(name: string): void { this.regions = this.regions.filter((r) => r.name !== name); }

  list(): readonly Region[] { return this.regions; }

  private find(gpa: number, len: number): MappedRegion | null {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(len) || gpa < 0 || len < 0) return null;
    for (let i = 0; i < this.regions.length; i++) {
      const r = this.regions[i]!;
      if (gpa >= r.gpa && gpa + len <= r.end) return r;
    }
    return null;
  }

  /**
   * The host address of [gpa, gpa+len), for the kernel to reach it there, as signed 32-bit
   * halves in out[at] (low) and out[at + 1]; false (out untouched) if the range is not wholly
   * inside one region. No heap number is made for a range within 2 GiB of its region's start.
   */
  hostHalves(gpa: number, len: number, out: Int32Array, at: number): boolean {
    const r = this.find(gpa, len);
    if (!r) return false;
    const off = gpa - r.gpa;
    if (off <= 0x7fff_ffff) addToHalves(r.hostHalves[0]!, r.hostHalves[1]!, off, out, at);
    else toHalves(r.hostBase + off, out, at);
    return true;
  }

  /** True if [gpa, gpa+len) lies entirely inside one region. */
  contains(gpa: number, len: number): boolean { return this.find(gpa, len) !== null; }

  /**
   * A live view of guest memory, or an exception if the range is not wholly
   * inside one region. Callers validating guest input use `contains` first
   * or catch GuestMemoryError.
   */
  view(gpa: number, len: number): Uint8Array {
    const r = this.find(gpa, len);
    const v = r?.slice(gpa - r.gpa, len);
    if (!v) throw new GuestMemoryError(`guest range 0x${gpa.toString(16)}+0x${len.toString(16)} is outside guest memory`);
    return v;
  }

  write(gpa: number, data: Uint8Array): void { this.view(gpa, data.length).set(data); }
  read(gpa: number, len: number): Uint8Array { return this.view(gpa, len).slice(); }

  // Little-endian scalars without copies or allocations (virtqueue rings are read and written
  // a few bytes at a time, on the flush path; garbage there means collections, slow under emulation).
  // V8 runs pmemvm's code unoptimized (bin/pmemvm.cjs), where any number that is not a small
  // integer (31 bits) is a new heap object: results stay small integers wherever they can.
  private so = 0;
  /** Point sv/so at [gpa, gpa+len), or throw. */
  private locate(gpa: number, len: number): DataView {
    const r = this.find(gpa, len);
    const off = r ? gpa - r.gpa : 0;
    const v = r ? r.chunkView(off, len) : null;
    if (!v) throw new GuestMemoryError(`guest range 0x${gpa.toString(16)}+0x${len.toString(16)} is outside guest memory`);
    this.so = off < CHUNK ? off : off % CHUNK;
    return v;
  }
  u16(gpa: number): number { return this.locate(gpa, 2).getUint16(this.so, true); }
  u32(gpa: number): number { return this.locate(gpa, 4).getUint32(this.so, true); }
  /** A 64-bit value as a Number (exact below 2^53; above, it cannot be a guest address anyway). */
  u64(gpa: number): number {
    const v = this.locate(gpa, 8);
    return fromHalves(v.getUint32(this.so, true), v.getUint32(this.so + 4, true));
  }
  setU16(gpa: number, x: number): void { this.locate(gpa, 2).setUint16(this.so, x, true); }
  setU32(gpa: number, x: number): void { this.locate(gpa, 4).setUint32(this.so, x >>> 0, true); }
}
