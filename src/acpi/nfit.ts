// NVDIMM Firmware Interface Table (ACPI 6.x section 5.2.25), laid out the way
// QEMU presents its vNVDIMMs so Linux's nfit driver sees familiar devices:
// per DIMM an SPA range (type 0), a memory-device-to-SPA map (type 1) and a
// control region (type 4); optionally one platform capabilities entry (type 7).
// pmemvm's own flush-hint=on adds a Flush Hint Address structure (type 6) per DIMM.

import { ByteWriter, concat } from './bytes.js';
import { guidBytes } from './guid.js';
import { acpiTable } from './table.js';

type U64 = number | bigint;

export interface NfitDimm {
  slot: number;
  base: U64; // guest-physical address of the DIMM's memory
  size: U64;
  /** Tell the guest the DIMM cannot persist writes (memdev state flag "not armed"). */
  unarmed: boolean;
  /** NUMA proximity domain; default 0. */
  node?: number;
  /** Guest-physical address of the DIMM's one flush hint (type 6); undefined: none, as QEMU. */
  flushHint?: U64;
}

export interface NfitOptions {
  dimms: readonly NfitDimm[];
  /** Platform Capabilities: what is flushed to the DIMMs on power loss. Omitted when undefined. */
  persistence?: 'cpu' | 'mem-ctrl';
}

/** Byte-addressable persistent memory range GUID. */
export const NFIT_PM_GUID = '66F0D379-B4F3-4074-AC43-0D3318B78CDB';
export const NFIT_TYPE = { SPA: 0, MEMDEV: 1, DCR: 4, FLUSH_HINT: 6, CAPABILITIES: 7 } as const;
/** FLUSH_HINT: the fixed part; each hint address adds 8 bytes. */
export const NFIT_SIZE = { SPA: 56, MEMDEV: 48, DCR: 80, FLUSH_HINT: 16, CAPABILITIES: 16 } as const;

const SPA_FLAG_ADD_ONLINE_ONLY = 1 << 0;
const SPA_FLAG_PROXIMITY_VALID = 1 << 1;
const EFI_MEMORY_WB = 0x8n;
const EFI_MEMORY_NV = 0x8000n;
export const MEMDEV_NOT_ARMED = 1 << 3;
/**
 * Region format interface code, as QEMU sets it (0x301: byte-addressable,
 * energy-backed, JEDEC "function 3" class). Linux shows it in sysfs as
 * nmemX/nfit/format; keep it equal so guests see the same DIMM on both VMMs.
 */
export const NFIT_FIC_BYTE = 0x0301;
/** Capabilities bit 0: CPU caches are flushed on power loss; bit 1: memory controller buffers are. */
export const NFIT_CAP = { cpu: 0b11, 'mem-ctrl': 0b10 } as const;

// Indexes as QEMU derives them from the slot: 0 means "none", the root device
// owns handle 0, and each DIMM needs distinct SPA and DCR indexes.
export const nfitHandle = (slot: number) => slot + 1;
export const spaIndex = (slot: number) => (slot + 1) << 1;
export const dcrIndex = (slot: number) => spaIndex(slot) + 1;
export const dimmSerial = (slot: number) => 0x123456 + slot;

function spaRange(d: NfitDimm): Uint8Array {
  return new ByteWriter(NFIT_SIZE.SPA)
    .u16(NFIT_TYPE.SPA)
    .u16(NFIT_SIZE.SPA)
    .u16(spaIndex(d.slot))
    .u16(SPA_FLAG_ADD_ONLINE_ONLY | SPA_FLAG_PROXIMITY_VALID)
    .u32(0)
    .u32(d.node ?? 0)
    .bytes(guidBytes(NFIT_PM_GUID))
    .u64(d.base)
    .u64(d.size)
    .u64(EFI_MEMORY_WB | EFI_MEMORY_NV)
    .done();
}

function memoryDevice(d: NfitDimm): Uint8Array {
  return new ByteWriter(NFIT_SIZE.MEMDEV)
    .u16(NFIT_TYPE.MEMDEV)
    .u16(NFIT_SIZE.MEMDEV)
    .u32(nfitHandle(d.slot))
    .u16(0) // physical id
    .u16(0) // region id
    .u16(spaIndex(d.slot))
    .u16(dcrIndex(d.slot))
    .u64(d.size) // region size
    .u64(0) // region offset inside the SPA range
    .u64(0) // device physical address: the DIMM's own addresses start at 0
    .u16(0) // no interleave structure
    .u16(1) // interleave ways
    .u16(d.unarmed ? MEMDEV_NOT_ARMED : 0)
    .u16(0)
    .done();
}

function controlRegion(d: NfitDimm): Uint8Array {
  return new ByteWriter(NFIT_SIZE.DCR)
    .u16(NFIT_TYPE.DCR)
    .u16(NFIT_SIZE.DCR)
    .u16(dcrIndex(d.slot))
    .u16(0x8086) // vendor
    .u16(0x0001) // device
    .u16(0x0001) // revision
    .u16(0) // subsystem vendor, device, revision: none (as QEMU)
    .u16(0)
    .u16(0)
    .u8(0) // valid fields: no manufacturing location/date
    .zeros(5) // manufacturing location, date, reserved
    .u32(dimmSerial(d.slot))
    .u16(NFIT_FIC_BYTE)
    .u16(0) // no block control windows; the window fields below stay 0
    .zeros(NFIT_SIZE.DCR - 32)
    .done();
}

/**
 * ACPI 6.x 5.2.25.7: device handle, hint count, 6 reserved bytes, the hints.
 * One hint: Linux uses a power-of-two count per region (a count of 1 means
 * every CPU writes the same address) and needs at least one.
 */
function flushHintAddress(d: NfitDimm, hint: U64): Uint8Array {
  return new ByteWriter(NFIT_SIZE.FLUSH_HINT + 8)
    .u16(NFIT_TYPE.FLUSH_HINT)
    .u16(NFIT_SIZE.FLUSH_HINT + 8)
    .u32(nfitHandle(d.slot))
    .u16(1) // hint count
    .zeros(6)
    .u64(hint)
    .done();
}

function platformCapabilities(persistence: 'cpu' | 'mem-ctrl'): Uint8Array {
  const caps = NFIT_CAP[persistence];
  return new ByteWriter(NFIT_SIZE.CAPABILITIES)
    .u16(NFIT_TYPE.CAPABILITIES)
    .u16(NFIT_SIZE.CAPABILITIES)
    .u8(31 - Math.clz32(caps)) // highest valid capability bit
    .zeros(3)
    .u32(caps)
    .u32(0)
    .done();
}

/**
 * The NFIT's structures without its header (nor the 4 reserved bytes after it):
 * what the root device's _FIT returns, as QEMU's FIT buffer holds them.
 */
export function nfitStructures(opts: NfitOptions): Uint8Array {
  const slots = new Set<number>();
  for (const d of opts.dimms) {
    // spaIndex must fit the 16-bit index fields.
    if (!Number.isInteger(d.slot) || d.slot < 0 || d.slot > 0x7ffe) throw new RangeError(`NFIT: bad slot ${d.slot}`);
    if (slots.has(d.slot)) throw new RangeError(`NFIT: slot ${d.slot} used twice`);
    if (BigInt(d.size) <= 0n) throw new RangeError(`NFIT: slot ${d.slot} has no size`);
    slots.add(d.slot);
  }
  const parts: Uint8Array[] = [];
  for (const d of opts.dimms) {
    parts.push(spaRange(d), memoryDevice(d), controlRegion(d));
    if (d.flushHint !== undefined) parts.push(flushHintAddress(d, d.flushHint));
  }
  if (opts.persistence) parts.push(platformCapabilities(opts.persistence));
  return concat(...parts);
}

export function buildNfit(opts: NfitOptions): Uint8Array {
  return acpiTable('NFIT', 1, concat(new Uint8Array(4) /* reserved */, nfitStructures(opts)));
}
