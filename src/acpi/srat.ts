// System Resource Affinity Table (ACPI 6.5 section 5.2.16) for the single NUMA
// node QEMU 7.2's pc machine turns on by itself when -m has maxmem (its
// auto_enable_numa_with_memhp/_memdev). Entry order, the way RAM is cut around
// the holes, the zero-filled padding entries and the flags follow QEMU's
// build_srat and nvdimm_build_srat, so Linux finds the same proximity domains
// (an NVDIMM region's target_node is 0, as on QEMU, instead of -1).

import { ByteWriter, concat } from './bytes.js';
import { acpiTable } from './table.js';

type U64 = number | bigint;

export interface SratRange {
  base: U64;
  size: U64;
}

export interface SratOptions {
  /** Local APIC ids of the processors, in QEMU's possible-CPU order. */
  apicIds: readonly number[];
  /** RAM below the 32-bit PCI hole (QEMU's below_4g_mem_size), from address 0. */
  ramBelow4g: number;
  /** RAM from 4 GiB up (above_4g_mem_size); 0 for none. */
  ramAbove4g: number;
  /** NVDIMMs in the order the NFIT lists them. */
  nvdimms: readonly SratRange[];
  /** The hot-pluggable device-memory region of -m slots/maxmem; no entry when its size is 0. */
  deviceMemory: SratRange;
}

export const SRAT_TYPE = { LOCAL_APIC: 0, MEMORY: 1 } as const;
export const SRAT_SIZE = { LOCAL_APIC: 16, MEMORY: 40 } as const;
export const SRAT_MEM = { ENABLED: 1 << 0, HOTPLUGGABLE: 1 << 1, NON_VOLATILE: 1 << 2 } as const;

/** The one node every CPU and byte of memory belongs to. */
const NODE = 0;
const NODES = 1;
const HOLE_640K_START = 0xa0000;
const HOLE_640K_END = 0x100000;
const FOUR_GIB = 0x1_0000_0000;

function localApic(apicId: number): Uint8Array {
  // QEMU switches to x2APIC affinity entries from id 255; pmemvm's MADT stops below that.
  if (!Number.isInteger(apicId) || apicId < 0 || apicId >= 255) throw new RangeError(`SRAT: APIC id ${apicId}`);
  return new ByteWriter(SRAT_SIZE.LOCAL_APIC)
    .u8(SRAT_TYPE.LOCAL_APIC)
    .u8(SRAT_SIZE.LOCAL_APIC)
    .u8(NODE) // proximity domain bits 7:0
    .u8(apicId)
    .u32(1) // enabled
    .u8(0) // local SAPIC EID
    .zeros(3) // proximity domain bits 31:8
    .u32(0) // clock domain
    .done();
}

function memory(base: U64, size: U64, flags: number): Uint8Array {
  return new ByteWriter(SRAT_SIZE.MEMORY)
    .u8(SRAT_TYPE.MEMORY)
    .u8(SRAT_SIZE.MEMORY)
    .u32(NODE)
    .u16(0)
    .u64(base)
    .u64(size)
    .u32(0)
    .u32(flags)
    .u64(0)
    .done();
}

/** The node's RAM with the 640K-1M hole and the 32-bit PCI hole cut out, as QEMU cuts it. */
function ramEntries(below: number, above: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const total = below + above;
  let base = 0;
  let len = total;
  if (total > HOLE_640K_START) {
    out.push(memory(0, HOLE_640K_START, SRAT_MEM.ENABLED));
    if (total <= HOLE_640K_END) return out; // RAM ends inside the hole: nothing more
    base = HOLE_640K_END;
    len = total - HOLE_640K_END;
  }
  if (above > 0) {
    if (below > base) out.push(memory(base, below - base, SRAT_MEM.ENABLED));
    base = FOUR_GIB;
    len = above;
  }
  if (len > 0) out.push(memory(base, len, SRAT_MEM.ENABLED));
  return out;
}

export function buildSrat(o: SratOptions): Uint8Array {
  const mem = [
    ...ramEntries(o.ramBelow4g, o.ramAbove4g),
    ...o.nvdimms.map((d) => memory(d.base, d.size, SRAT_MEM.ENABLED | SRAT_MEM.NON_VOLATILE)),
  ];
  // QEMU pads to at least nodes + 2 memory entries with disabled all-zero ones.
  while (mem.length < NODES + 2) mem.push(memory(0, 0, 0));
  if (BigInt(o.deviceMemory.size) > 0n) {
    mem.push(memory(o.deviceMemory.base, o.deviceMemory.size, SRAT_MEM.HOTPLUGGABLE | SRAT_MEM.ENABLED));
  }
  const head = new ByteWriter(12).u32(1).u64(0).done(); // reserved: 1 for compatibility, then 8 zero bytes
  return acpiTable('SRAT', 1, concat(head, ...o.apicIds.map(localApic), ...mem));
}
