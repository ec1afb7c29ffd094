/**
 * Recognise and parse the two kernel formats we boot: a bzImage (Linux x86
 * boot protocol, Documentation/arch/x86/boot.rst) and an uncompressed ELF
 * vmlinux (what the bzImage decompresses to; skips decompression).
 */
import { UserError } from '../errors.js';
import { HIMEM_START } from './layout.js';

export interface LoadSegment { gpa: number; data: Uint8Array; memSize: number }

export interface KernelImage {
  kind: 'bzImage' | 'elf';
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

export function parseKernel(path: string, bytes: Uint8Array): KernelImage {
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    return parseElf(path, bytes);
  }
  if (bytes.length >= 0x250) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (v.getUint32(0x202, true) === HDRS) return parseBzImage(path, bytes, v);
  }
  throw new UserError(`-kernel ${path}: not a Linux kernel (neither a bzImage nor an ELF vmlinux)`);
}

function parseBzImage(path: string, bytes: Uint8Array, v: DataView): KernelImage {
  const protocol = v.getUint16(0x206, true);
  if (protocol < 0x20c) {
    throw new UserError(`-kernel ${path}: boot protocol ${fmtProto(protocol)} is too old; pmemvm needs 2.12 or later (Linux 3.8+)`);
  }
  const xloadflags = v.getUint16(0x236, true);
  if (!(xloadflags & 1)) throw new UserError(`-kernel ${path}: this kernel has no 64-bit entry point (XLF_KERNEL_64); pmemvm boots x86-64 kernels`);
  let setupSects = bytes[0x1f1];
  if (setupSects === 0) setupSects = 4;
  const pmOffset = (setupSects + 1) * 512;
  if (pmOffset >= bytes.length) throw new UserError(`-kernel ${path}: truncated bzImage`);
  const headerEnd = 0x202 + bytes[0x201];
  return {
    kind: 'bzImage',
    segments: [{ gpa: HIMEM_START, data: bytes.subarray(pmOffset), memSize: bytes.length - pmOffset }],
    entry64: HIMEM_START + 0x200,
    setupHeader: bytes.slice(0x1f1, headerEnd),
    initrdAddrMax: v.getUint32(0x22c, true),
    cmdlineMax: v.getUint32(0x238, true),
    protocol,
  };
}

function fmtProto(p: number): string { return `${p >> 8}.${p & 0xff}`; }

function parseElf(path: string, bytes: Uint8Array): KernelImage {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] !== 2 || bytes[5] !== 1 || v.getUint16(18, true) !== 62) {
    throw new UserError(`-kernel ${path}: ELF file is not a 64-bit little-endian x86-64 kernel`);
  }
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true), phnum = v.getUint16(56, true);
  const segments: LoadSegment[] = [];
  const vaddrs: bigint[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > bytes.length) throw new UserError(`-kernel ${path}: truncated ELF program headers`);
    if (v.getUint32(o, true) !== 1) continue; // PT_LOAD
    const off = Number(v.getBigUint64(o + 8, true));
    const paddr = Number(v.getBigUint64(o + 24, true));
    const filesz = Number(v.getBigUint64(o + 32, true));
    const memsz = Number(v.getBigUint64(o + 40, true));
    if (off + filesz > bytes.length) throw new UserError(`-kernel ${path}: ELF segment ${i} lies past the end of the file`);
    const vaddr = v.getBigUint64(o + 16, true);
    vaddrs.push(vaddr);
    segments.push({ gpa: paddr, data: bytes.subarray(off, off + filesz), memSize: memsz });
  }
  if (segments.length === 0) throw new UserError(`-kernel ${path}: ELF file has no loadable segments`);
  // Linux links vmlinux with ENTRY(phys_startup_64), a physical address;
  // translate through the segments in case another linker used a virtual one.
  const entry = v.getBigUint64(24, true);
  let entry64 = Number(entry);
  segments.forEach((s, i) => {
    const va = vaddrs[i];
    if (entry >= va && entry < va + BigInt(s.memSize) && va !== BigInt(s.gpa)) entry64 = s.gpa + Number(entry - va);
  });
  return {
    kind: 'elf',
    segments,
    entry64,
    setupHeader: null,
    initrdAddrMax: 0x7fffffff,
    cmdlineMax: 2047,
    protocol: 0x20f,
  };
}
