/**
 * The NUMA node QEMU 7.2's pc machine creates on its own: with maxmem above
 * the RAM size (machine_class auto_enable_numa_with_memhp/_with_memdev,
 * numa_complete_configuration) it makes node 0 with all RAM and CPUs, and its
 * ACPI then has an SRAT. Without maxmem there is no node and no SRAT. One
 * node: no SLIT (no distances given) and no HMAT (hmat=on is not set).
 */
import { splitRam } from '../boot/layout.js';
import { buildSrat } from '../acpi/srat.js';
import type { DeviceMemoryRegion } from '../memory/device-memory.js';

export interface NumaConfig {
  /** The hot-pluggable device-memory region; the SRAT has it as node 0's hotplug range. */
  deviceMemory: { base: number; size: number };
}

/** NUMA as QEMU turns it on for this device-memory region: only when maxmem > RAM. */
export function autoNuma(region: DeviceMemoryRegion): NumaConfig | undefined {
  // The region has room (size > 0) exactly when maxmem is above the RAM size.
  return region.size > 0 ? { deviceMemory: { base: region.base, size: region.size } } : undefined;
}

export interface NumaTablesInput {
  numa?: NumaConfig;
  ramSize: number;
  /** The MADT's APIC ids. */
  apicIds: readonly number[];
  /** NVDIMMs in NFIT order. */
  nvdimms: readonly { addr: number; size: number }[];
}

/** The SRAT when NUMA is on, none otherwise. */
export function numaTables(i: NumaTablesInput): Uint8Array[] {
  if (!i.numa) return [];
  const { low, high } = splitRam(i.ramSize);
  return [buildSrat({
    apicIds: [...i.apicIds],
    ramBelow4g: low,
    ramAbove4g: high,
    nvdimms: i.nvdimms.map((d) => ({ base: d.addr, size: d.size })),
    deviceMemory: i.numa.deviceMemory,
  })];
}
