/**
 * Recognise and parse the two kernel formats we boot: a bzImage (Linux x86
 * boot protocol, Documentation/arch/x86/boot.rst) and an uncompressed ELF
 * vmlinux (what the bzImage decompresses to; skips decompression).
 */
import { UserError } from '../errors.js';
import { HIMEM_START } from './layout.js';
import type { ImageFile } from './image-file.js';

/**
 * A piece of the kernel file to place at `gpa`: `fileSize` bytes from `offset`, then zeros up
 * to `memSize`. A piece with `fileSize` 0 is all zeros: its file bytes are a NOBITS section's
 * padding (a vmlinux carries its 17 MB .bss that way) and are not read.
 */
export interface LoadSegment { gpa: number; offset: number; fileSize: number; memSize: number }

export interface KernelImage {
  kind: 'bzImage' | 'elf';
  file: ImageFile;
  segments: LoadSegment[];
  /** Guest-physical address of the 64-bit entry point (startup_64). */
  entry64: number;
  /** The setup header bytes to copy into boot_params at 0x1f1 (bzImage only). */
  setupHeader: Uint8Array | null;
  /** Highest address the initrd may end at (initrd_addr_max). */
  initrdAddrMax: number;
  cmdlineMax: number;
  protocol: number;
}

const HDRS = 0x53726448; // "HdrS"

/** The first bytes of a file (its headers); the rest is read when the kernel is loaded. */
function head(file: ImageFile, offset: number, len: number): Uint8Array {
  const bytes = new Uint8Array(Math.max(0, Math.min(len, file.size - offset)));
  file.readInto(offset, bytes);
  return bytes;
}

export function parseKernel(file: ImageFile): KernelImage {
  const path = file.path;
  const bytes = head(file, 0, 0x1000);
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    return parseElf(file);
  }
  if (bytes.length >= 0x250) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (v.getUint32(0x202, true) === HDRS) return parseBzImage(file, bytes, v);
  }
  throw new UserError(`-kernel ${path}: not a Linux kernel (neither a bzImage nor an ELF vmlinux)`);
}

function parseBzImage(file: ImageFile, bytes: Uint8Array, v: DataView): KernelImage {
  const path = file.path;
  const protocol = v.getUint16(0x206, true);
  if (protocol < 0x20c) {
    throw new UserError(`-kernel ${path}: boot protocol ${fmtProto(protocol)} is too old; pmemvm needs 2.12 or later (Linux 3.8+)`);
  }
  const xloadflags = v.getUint16(0x236, true);
  if (!(xloadflags & 1)) throw new UserError(`-kernel ${path}: this kernel has no 64-bit entry point (XLF_KERNEL_64); pmemvm boots x86-64 kernels`);
  let setupSects = bytes[0x1f1];
  if (setupSects === 0) setupSects = 4;
  const pmOffset = (setupSects + 1) * 512;
  if (pmOffset >= file.size) throw new UserError(`-kernel ${path}: truncated bzImage`);
  const headerEnd = 0x202 + bytes[0x201];
  return {
    kind: 'bzImage',
    file,
    segments: [{ gpa: HIMEM_START, offset: pmOffset, fileSize: file.size - pmOffset, memSize: file.size - pmOffset }],
    entry64: HIMEM_START + 0x200,
    setupHeader: bytes.slice(0x1f1, headerEnd),
    initrdAddrMax: v.getUint32(0x22c, true),
    cmdlineMax: v.getUint32(0x238, true),
    protocol,
  };
}

function fmtProto(p: number): string { return `${p >> 8}.${p & 0xff}`; }

function parseElf(file: ImageFile): KernelImage {
  const path = file.path;
  const eh = head(file, 0, 64);
  const ev = new DataView(eh.buffer);
  if (eh.length < 64 || eh[4] !== 2 || eh[5] !== 1 || ev.getUint16(18, true) !== 62) {
    throw new UserError(`-kernel ${path}: ELF file is not a 64-bit little-endian x86-64 kernel`);
  }
  const phoff = Number(ev.getBigUint64(32, true));
  const phentsize = ev.getUint16(54, true), phnum = ev.getUint16(56, true);
  if (phentsize < 56 || phoff + phnum * phentsize > file.size) throw new UserError(`-kernel ${path}: truncated ELF program headers`);
  const ph = head(file, phoff, phnum * phentsize);
  const v = new DataView(ph.buffer);
  const segments: LoadSegment[] = [];
  const vaddrs: bigint[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (v.getUint32(o, true) !== 1) continue; // PT_LOAD
    const off = Number(v.getBigUint64(o + 8, true));
    const paddr = Number(v.getBigUint64(o + 24, true));
    const filesz = Number(v.getBigUint64(o + 32, true));
    const memsz = Number(v.getBigUint64(o + 40, true));
    if (off + filesz > file.size) throw new UserError(`-kernel ${path}: ELF segment ${i} lies past the end of the file`);
    if (filesz > memsz) throw new UserError(`-kernel ${path}: ELF segment ${i} has more bytes in the file than in memory`);
    const vaddr = v.getBigUint64(o + 16, true);
    vaddrs.push(vaddr);
    segments.push({ gpa: paddr, offset: off, fileSize: filesz, memSize: memsz });
  }
  if (segments.length === 0) throw new UserError(`-kernel ${path}: ELF file has no loadable segments`);
  const holes = nobitsSections(file, ev);
  // Linux links vmlinux with ENTRY(phys_startup_64), a physical address;
  // translate through the segments in case another linker used a virtual one.
  const entry = ev.getBigUint64(24, true);
  let entry64 = Number(entry);
  segments.forEach((s, i) => {
    const va = vaddrs[i];
    if (entry >= va && entry < va + BigInt(s.memSize) && va !== BigInt(s.gpa)) entry64 = s.gpa + Number(entry - va);
  });
  return {
    kind: 'elf',
    file,
    segments: segments.flatMap((s, i) => withoutHoles(s, vaddrs[i]!, holes)),
    entry64,
    setupHeader: null,
    initrdAddrMax: 0x7fffffff,
    cmdlineMax: 2047,
    protocol: 0x20f,
  };
}

/**
 * The allocated NOBITS sections ([start, end) virtual addresses, sorted): zeros in memory
 * whatever the file holds where they fall inside a segment. No section headers: none.
 */
function nobitsSections(file: ImageFile, ev: DataView): Array<[bigint, bigint]> {
  const shoff = Number(ev.getBigUint64(40, true));
  const shentsize = ev.getUint16(58, true), shnum = ev.getUint16(60, true);
  if (shoff === 0 || shnum === 0 || shentsize < 64 || shoff + shnum * shentsize > file.size) return [];
  const sh = new DataView(head(file, shoff, shnum * shentsize).buffer);
  const SHT_NOBITS = 8, SHF_ALLOC = 2n;
  const out: Array<[bigint, bigint]> = [];
  for (let i = 0; i < shnum; i++) {
    const o = i * shentsize;
    const size = sh.getBigUint64(o + 32, true);
    if (sh.getUint32(o + 4, true) !== SHT_NOBITS || !(sh.getBigUint64(o + 8, true) & SHF_ALLOC) || size === 0n) continue;
    const addr = sh.getBigUint64(o + 16, true);
    out.push([addr, addr + size]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** A segment split around the NOBITS sections inside its file bytes: those pieces become zeros, not reads. */
function withoutHoles(s: LoadSegment, vaddr: bigint, holes: Array<[bigint, bigint]>): LoadSegment[] {
  const pieces: LoadSegment[] = [];
  let at = 0; // offset into the segment of what is not yet placed
  for (const [start, end] of holes) {
    const from = Math.max(at, Number(start - vaddr)), to = Math.min(s.fileSize, Number(end - vaddr));
    if (to <= from) continue;
    if (from > at) pieces.push({ gpa: s.gpa + at, offset: s.offset + at, fileSize: from - at, memSize: from - at });
    pieces.push({ gpa: s.gpa + from, offset: s.offset + from, fileSize: 0, memSize: to - from });
    at = to;
  }
  if (at === 0) return [s];
  if (s.memSize > at) pieces.push({ gpa: s.gpa + at, offset: s.offset + at, fileSize: s.fileSize - at, memSize: s.memSize - at });
  return pieces;
}
