// Builders for the base ACPI tables pmemvm gives the guest (ACPI 6.5 chapter 5).
// Pointers passed in are absolute guest-physical addresses.

import * as aml from './aml.js';
import { ascii, ByteWriter, checksum8, concat } from './bytes.js';
import { S5_SLP_TYP } from './power.js';
import { acpiTable, amlTable, HEADER_SIZE, ioPortGas, OEM_ID } from './table.js';

export { acpiTable, amlTable } from './table.js';

// ---- RSDP / XSDT -----------------------------------------------------------------

export const RSDP_SIZE = 36;

/** RSDP revision 2 pointing at the XSDT only (no RSDT, as on other XSDT-only VMMs). */
export function buildRsdp(xsdtAddress: number | bigint): Uint8Array {
  const rsdp = new ByteWriter(RSDP_SIZE)
    .bytes(ascii('RSD PTR ', 8))
    .u8(0) // checksum over bytes 0..19
    .bytes(ascii(OEM_ID, 6))
    .u8(2) // revision
    .u32(0) // RsdtAddress: none
    .u32(RSDP_SIZE)
    .u64(xsdtAddress)
    .u8(0) // extended checksum over all 36 bytes
    .zeros(3)
    .done();
  rsdp[8] = checksum8(rsdp.subarray(0, 20));
  rsdp[32] = checksum8(rsdp);
  return rsdp;
}

export function buildXsdt(tableAddresses: readonly (number | bigint)[]): Uint8Array {
  const w = new ByteWriter(8 * tableAddresses.length);
  for (const a of tableAddresses) w.u64(a);
  return acpiTable('XSDT', 1, w.done());
}

// ---- FADT ---------------------------------------------------------------------------

/** FADT field offsets (from the start of the table) used by pmemvm. */
export const FADT = {
  size: 276,
  firmwareCtrl: 36,
  dsdt: 40,
  sciInt: 46,
  iapcBootArch: 109,
  flags: 112,
  resetReg: 116,
  resetValue: 128,
  minorVersion: 131,
  xFirmwareCtrl: 132,
  xDsdt: 140,
  sleepControlReg: 244,
  sleepStatusReg: 256,
  hypervisorVendorId: 268,
} as const;

export const FADT_FLAGS = { RESET_REG_SUP: 1 << 10, HW_REDUCED_ACPI: 1 << 20 } as const;
/** IAPC_BOOT_ARCH bits: 8042 (bit 1) stays clear, so Linux skips i8042 probing. */
export const IAPC_BOOT_ARCH = { LEGACY_DEVICES: 1 << 0, I8042: 1 << 1, VGA_NOT_PRESENT: 1 << 2 } as const;

export interface FadtOptions {
  dsdtAddress: number | bigint;
  resetPort: number;
  resetValue: number;
  sleepControlPort: number;
  sleepStatusPort: number;
}

/** FADT revision 6.5, hardware-reduced: no PM1/GPE blocks, no FACS, no SCI. */
export function buildFadt(o: FadtOptions): Uint8Array {
  const w = new ByteWriter(FADT.size - HEADER_SIZE);
  w.u32(0) // FIRMWARE_CTRL: no FACS in hardware-reduced mode
    .u32(0) // DSDT: the 64-bit X_DSDT is used instead
    .u8(0) // reserved
    .u8(0) // Preferred_PM_Profile: unspecified
    .u16(0) // SCI_INT: none (hardware-reduced)
    .zeros(FADT.iapcBootArch - 48) // SMI_CMD .. CENTURY: all unused
    .u16(IAPC_BOOT_ARCH.VGA_NOT_PRESENT)
    .u8(0)
    .u32(FADT_FLAGS.RESET_REG_SUP | FADT_FLAGS.HW_REDUCED_ACPI)
    .bytes(ioPortGas(o.resetPort))
    .u8(o.resetValue)
    .u16(0) // ARM_BOOT_ARCH
    .u8(5) // FADT minor version: 6.5
    .u64(0) // X_FIRMWARE_CTRL
    .u64(o.dsdtAddress)
    .zeros(FADT.sleepControlReg - 148) // X_PM1a_EVT_BLK .. X_GPE1_BLK: absent
    .bytes(ioPortGas(o.sleepControlPort))
    .bytes(ioPortGas(o.sleepStatusPort))
    .bytes(ascii('PMEMVM', 8, 0));
  return acpiTable('FACP', 6, w.done());
}

// ---- MADT ---------------------------------------------------------------------------

export const LAPIC_BASE = 0xfee00000;
export const IOAPIC_BASE = 0xfec00000;
export const MADT_PCAT_COMPAT = 1;
export const MADT_ENTRY = { LOCAL_APIC: 0, IO_APIC: 1, INTERRUPT_OVERRIDE: 2, LOCAL_APIC_NMI: 4 } as const;

export interface MadtOptions {
  cpus: number; // processor UIDs 0..cpus-1
  /** APIC id of each processor; 0..cpus-1 if left out. */
  apicIds?: readonly number[];
  /** Processors 0..present-1 are enabled, the rest listed for hotplug (-smp maxcpus); all if left out. */
  present?: number;
  ioapicId: number;
}

export function buildMadt(o: MadtOptions): Uint8Array {
  // xAPIC ids are 8-bit and 0xff is broadcast; more CPUs would need x2APIC entries.
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 255) throw new RangeError(`MADT: ${o.cpus} CPUs`);
  if (!Number.isInteger(o.ioapicId) || o.ioapicId < 0 || o.ioapicId > 255) throw new RangeError('MADT: ioapicId');
  const entries: Uint8Array[] = [];
  const apicIds = o.apicIds ?? Array.from({ length: o.cpus }, (_, i) => i);
  if (apicIds.length !== o.cpus || apicIds.some((id) => !Number.isInteger(id) || id < 0 || id > 254)) throw new RangeError(`MADT: APIC ids ${apicIds.join(',')}`);
  for (let uid = 0; uid < o.cpus; uid++) {
    // Flags: Enabled, or Online Capable for a possible CPU (with MADT revision 5, Linux counts
    // a disabled entry as possible only with that bit).
    const flags = uid < (o.present ?? o.cpus) ? 1 : 2;
    entries.push(new ByteWriter(8).u8(MADT_ENTRY.LOCAL_APIC).u8(8).u8(uid).u8(apicIds[uid]!).u32(flags).done());
  }
  entries.push(new ByteWriter(12).u8(MADT_ENTRY.IO_APIC).u8(12).u8(o.ioapicId).u8(0).u32(IOAPIC_BASE).u32(0).done());
  // The PIT is wired to IOAPIC pin 2 on PC-compatible boards; flags 0 = bus conforming (ISA: edge, high).
  entries.push(new ByteWriter(10).u8(MADT_ENTRY.INTERRUPT_OVERRIDE).u8(10).u8(0).u8(0).u32(2).u16(0).done());
  // NMI on LINT1 of every processor (UID 0xff = all).
  entries.push(new ByteWriter(6).u8(MADT_ENTRY.LOCAL_APIC_NMI).u8(6).u8(0xff).u16(0).u8(1).done());
  const head = new ByteWriter(8).u32(LAPIC_BASE).u32(MADT_PCAT_COMPAT).done();
  return acpiTable('APIC', 5, concat(head, ...entries));
}

// ---- DSDT ---------------------------------------------------------------------------

/** COM1 as the PC has it: 8 ports at 0x3F8, ISA IRQ 4. */
export function com1Device(): Uint8Array {
  return aml.device(
    'COM1',
    aml.name('_HID', aml.eisaId('PNP0501')),
    aml.name('_UID', 1),
    aml.method('_STA', {}, aml.ret(0x0f)), // present, enabled, shown, functioning
    aml.name('_CRS', aml.resourceTemplate([aml.ioPort({ min: 0x3f8, length: 8 }), aml.irqNoFlags(4)])),
  );
}

/**
 * The CMOS RTC as the PC has it: ports 0x70-0x71, ISA IRQ 8. Linux's rtc_cmos binds to it
 * through PNP; without it, Linux falls back to a platform device whose probe fails here
 * (error -22: no /dev/rtc0, no hwclock). Our RTC never raises IRQ 8, but the line is part
 * of the device as Linux (and QEMU's DSDT) describe it.
 */
export function rtcDevice(): Uint8Array {
  return aml.device(
    'RTC',
    aml.name('_HID', aml.eisaId('PNP0B00')),
    aml.name('_CRS', aml.resourceTemplate([aml.ioPort({ min: 0x70, length: 2 }), aml.irqNoFlags(8)])),
  );
}

/** DSDT: \_S5_ for poweroff, then COM1, the RTC and `devices` inside \_SB. */
export function buildDsdt(devices: readonly Uint8Array[] = []): Uint8Array {
  return amlTable(
    'DSDT',
    concat(
      aml.name('\\_S5', aml.pkg(S5_SLP_TYP, S5_SLP_TYP, 0, 0)),
      aml.scope('\\_SB', com1Device(), rtcDevice(), ...devices),
    ),
  );
}
