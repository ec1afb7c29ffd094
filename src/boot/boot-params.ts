/**
 * struct boot_params (the "zero page") for the 64-bit boot protocol.
 * Offsets from Documentation/arch/x86/zero-page.rst and boot.rst.
 */
import { E820Entry } from './layout.js';

const OFF = {
  ACPI_RSDP_ADDR: 0x070,   // u64, protocol 2.14+
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  SETUP_HEADER: 0x1f1,
  BOOT_FLAG: 0x1fe,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  CMD_LINE_PTR: 0x228,
  CMDLINE_SIZE: 0x238,
  E820_TABLE: 0x2d0,
} as const;
const E820_MAX = 128;
const LOADED_HIGH = 0x01, KEEP_SEGMENTS = 0x40, CAN_USE_HEAP = 0x80;

export interface BootParamsInput {
  setupHeader: Uint8Array | null; // copied from the bzImage, else synthesized
  cmdlineAddr: number;
  cmdlineSize: number;
  initrd?: { addr: number; size: number };
  rsdpAddr: number;
  e820: E820Entry[];
}

export function buildBootParams(p: BootParamsInput): Uint8Array {
  const b = new Uint8Array(4096), v = new DataView(b.buffer);
  if (p.setupHeader) {
    b.set(p.setupHeader, OFF.SETUP_HEADER);
  } else {
    v.setUint16(OFF.BOOT_FLAG, 0xaa55, true);
    v.setUint32(OFF.HEADER, 0x53726448, true); // "HdrS"
    v.setUint16(OFF.VERSION, 0x020f, true);
  }
  b[OFF.TYPE_OF_LOADER] = 0xff; // undefined boot loader
  b[OFF.LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
  b[OFF.LOADFLAGS] &= ~KEEP_SEGMENTS;
  const lo32 = (x: number) => x >>> 0, hi32 = (x: number) => Math.floor(x / 0x1_0000_0000);
  v.setUint32(OFF.CMD_LINE_PTR, lo32(p.cmdlineAddr), true);
  v.setUint32(OFF.EXT_CMD_LINE_PTR, hi32(p.cmdlineAddr), true);
  v.setUint32(OFF.CMDLINE_SIZE, p.cmdlineSize, true);
  if (p.initrd) {
    v.setUint32(OFF.RAMDISK_IMAGE, lo32(p.initrd.addr), true);
    v.setUint32(OFF.EXT_RAMDISK_IMAGE, hi32(p.initrd.addr), true);
    v.setUint32(OFF.RAMDISK_SIZE, lo32(p.initrd.size), true);
    v.setUint32(OFF.EXT_RAMDISK_SIZE, hi32(p.initrd.size), true);
  }
  v.setBigUint64(OFF.ACPI_RSDP_ADDR, BigInt(p.rsdpAddr), true);
  if (p.e820.length > E820_MAX) throw new Error(`too many e820 entries (${p.e820.length})`);
  b[OFF.E820_ENTRIES] = p.e820.length;
  p.e820.forEach((e, i) => {
    const o = OFF.E820_TABLE + 20 * i;
    v.setBigUint64(o, BigInt(e.addr), true);
    v.setBigUint64(o + 8, BigInt(e.size), true);
    v.setUint32(o + 16, e.type, true);
  });
  return b;
}
