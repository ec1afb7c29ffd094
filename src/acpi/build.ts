// The one entry point the VMM calls: lay out every ACPI table in one image
// that is copied to guest-physical `base` (normally 0xE0000, in the BIOS area
// Linux scans for the RSDP). The E820 map must mark the image as reserved.

import { buildDsdt, buildFadt, buildMadt, buildRsdp, buildXsdt, RSDP_SIZE } from './tables.js';

import { ACPI_POWER } from './power.js';

export { ACPI_POWER, ACPI_POWER_PORTS, isPoweroffWrite, isResetWrite, S5_SLP_TYP } from './power.js';

export interface AcpiLayout {
  cpus: number;
  /** APIC id of each CPU; 0..cpus-1 if left out. */
  apicIds?: readonly number[];
  /** CPUs 0..present-1 are enabled, the others only possible (-smp maxcpus); all if left out. */
  present?: number;
  ioapicId: number; // IOAPIC at 0xFEC00000, GSI base 0 (24 pins)
  /** Power registers; each defaults to ACPI_POWER (ports 0x600-0x602, reset value 1). */
  resetPort?: number;
  resetValue?: number;
  sleepControlPort?: number;
  sleepStatusPort?: number;
  /** Extra AML objects appended inside \_SB (PCI host bridge, NVDIMM root, ...). */
  dsdtDevices?: Uint8Array[];
  /** Complete tables (headers and checksums done) listed in the XSDT (NFIT, MCFG, SSDT, ...). */
  extraTables?: Uint8Array[];
}

/** Default guest-physical base of the image. */
export const ACPI_BASE = 0xe0000;
/** End of the BIOS area searched for the RSDP (exclusive). */
const BIOS_AREA_END = 0x100000;
const ALIGN = 16; // the RSDP must be 16-byte aligned; tables just look tidy

const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/**
 * Build RSDP, XSDT, FADT, MADT, DSDT and the extra tables into one image.
 * The RSDP sits at `base`; all pointers are absolute guest-physical addresses.
 */
export function buildAcpi(layout: AcpiLayout, base: number = ACPI_BASE): { image: Uint8Array; rsdpAddress: number } {
  if (!Number.isInteger(base) || base < 0 || base % ALIGN !== 0) {
    throw new RangeError(`ACPI base 0x${base.toString(16)} must be 16-byte aligned`);
  }
  const dsdt = buildDsdt(layout.dsdtDevices ?? []);
  const madt = buildMadt({ cpus: layout.cpus, apicIds: layout.apicIds, present: layout.present, ioapicId: layout.ioapicId });
  const extras = layout.extraTables ?? [];

  // Place everything after the RSDP and XSDT, whose sizes are known up front.
  const xsdtAt = base + alignUp(RSDP_SIZE);
  const xsdtSize = 36 + 8 * (2 + extras.length); // FADT, MADT, extras
  let next = alignUp(xsdtAt + xsdtSize);
  const place = (size: number) => {
    const at = next;
    next = alignUp(at + size);
    return at;
  };
  const dsdtAt = place(dsdt.length);
  const fadt = buildFadt({
    dsdtAddress: dsdtAt,
    resetPort: layout.resetPort ?? ACPI_POWER.resetPort,
    resetValue: layout.resetValue ?? ACPI_POWER.resetValue,
    sleepControlPort: layout.sleepControlPort ?? ACPI_POWER.sleepControlPort,
    sleepStatusPort: layout.sleepStatusPort ?? ACPI_POWER.sleepStatusPort,
  });
  const fadtAt = place(fadt.length);
  const madtAt = place(madt.length);
  const extraAt = extras.map((t) => place(t.length));
  const xsdt = buildXsdt([fadtAt, madtAt, ...extraAt]);
  if (xsdt.length !== xsdtSize) throw new Error('XSDT size mismatch');

  const end = next;
  if (base < BIOS_AREA_END && end > BIOS_AREA_END) {
    throw new RangeError(`ACPI tables (${end - base} bytes) do not fit below 1 MiB from 0x${base.toString(16)}`);
  }
  const image = new Uint8Array(end - base);
  const put = (at: number, bytes: Uint8Array) => image.set(bytes, at - base);
  put(base, buildRsdp(xsdtAt));
  put(xsdtAt, xsdt);
  put(dsdtAt, dsdt);
  put(fadtAt, fadt);
  put(madtAt, madt);
  extras.forEach((t, i) => put(extraAt[i]!, t));
  return { image, rsdpAddress: base };
}
