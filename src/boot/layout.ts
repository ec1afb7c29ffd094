/**
 * Where the boot pieces live in guest-physical memory below 1 MiB (the same
 * places Firecracker and Cloud Hypervisor use), and the PC memory map.
 */
export const BOOT_GDT = 0x500;
export const BOOT_IDT = 0x520;
export const ZERO_PAGE = 0x7000;       // struct boot_params
export const BOOT_STACK = 0x8ff0;
export const PML4 = 0x9000;            // identity page tables: PML4, PDPT, 4 PDs
export const PDPT = 0xa000;
export const PD = 0xb000;              // 4 pages: 4 GiB of 2 MiB pages
export const CMDLINE = 0x20000;
export const CMDLINE_MAX = 2048;       // COMMAND_LINE_SIZE on x86
export const EBDA_START = 0x9fc00;     // low RAM ends here
export const ACPI_BASE = 0xe0000;      // RSDP + tables, scanned by Linux
export const ACPI_SIZE = 0x20000;
export const HIMEM_START = 0x100000;   // 1 MiB: protected-mode kernel of a bzImage
export const MMIO_HOLE_START_DEFAULT = 0xe0000000; // 32-bit PCI hole ...
export const FOUR_GIB = 0x1_0000_0000;
/**
 * The NVDIMM flush-hint page (NFIT type 6, -device nvdimm,flush-hint=on): one
 * 8-byte hint per memory slot. Nothing is mapped there, so a guest write exits
 * to pmemvm. Outside the PCI 32-bit window (ends 0xFEBFFFFF) and clear of the
 * IOAPIC (0xFEC00000), HPET (0xFED00000), TPM (0xFED40000), the GED
 * (0xFEDF0000) and the LAPIC/MSI range (0xFEE00000); Linux claims the page
 * (request_mem_region) and ioremaps it, which needs no e820 entry.
 */
export const FLUSH_HINT_PAGE = 0xfede0000;
export const FLUSH_HINT_PAGE_SIZE = 0x1000;
export const FLUSH_HINT_STRIDE = 8;
/** The guest-physical address of the flush hint for a memory slot. */
export const flushHintAddress = (slot: number): number => FLUSH_HINT_PAGE + slot * FLUSH_HINT_STRIDE;

/**
 * Split RAM below and above the 32-bit hole the way QEMU's pc machine does:
 * up to 3.5 GiB stays low; more than that keeps 3 GiB low and the rest at 4 GiB.
 */
export function splitRam(ramSize: number): { low: number; high: number } {
  const lowMax = ramSize >= 0xe0000000 ? 0xc0000000 : 0xe0000000;
  const low = Math.min(ramSize, lowMax);
  return { low, high: ramSize - low };
}

export const E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3, E820_NVS = 4, E820_PMEM = 7;
export interface E820Entry { addr: number; size: number; type: number }

/** The e820 map for RAM of this size (device memory is described by ACPI). */
export function e820Map(ramSize: number): E820Entry[] {
  const { low, high } = splitRam(ramSize);
  const map: E820Entry[] = [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: EBDA_START, size: 0xa0000 - EBDA_START, type: E820_RESERVED },
    { addr: ACPI_BASE, size: ACPI_SIZE, type: E820_RESERVED },
    { addr: HIMEM_START, size: low - HIMEM_START, type: E820_RAM },
  ];
  if (high > 0) map.push({ addr: FOUR_GIB, size: high, type: E820_RAM });
  return map;
}
