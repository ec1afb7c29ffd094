// ACPI PCI hotplug for the slots of bus 0, the guest side: what Linux's
// acpiphp (drivers/pci/hotplug/acpiphp_glue.c) needs, in the shape of QEMU
// 7.2's pc machine (hw/i386/acpi-build.c, hw/acpi/pcihp.c).
//
// acpiphp registers a hotplug slot for each child of the host bridge that has
// an _ADR and an _EJ0, named after its _SUN (/sys/bus/pci/slots/<_SUN>). On
// Notify 1 (device check) it rescans the slot and adds what appeared; on
// Notify 3 (eject request) it removes the slot's functions from the PCI core,
// then evaluates _EJ0, which tells the VMM the slot is free.
//
// The VMM's register block (src/devices/pci-hotplug.ts) sits at QEMU's
// address, 0xAE00 in I/O space, with QEMU's layout: a slot's bit in PCIU
// (0x00) says "device inserted", in PCID (0x04) "please eject"; writing a bit
// to B0EJ (0x08) ejects. The event reaches the guest through the GED, whose
// _EVT calls \_SB.PCI0.PCNT (QEMU's pc uses GPE bit 1 for the same call).
//
// Only bus 0 is hotpluggable here, so QEMU's bus selector (BNUM, 0x10) stays
// at 0 and the AML never writes it; nor is there acpi-index (_DSM/PDSM).
// The ports are inside PCI0's I/O window (0x0D00-0xFFFF), so like QEMU a PHPR
// device claims them and the OS never puts an I/O BAR over them.

import * as aml from './aml.js';

/** I/O port of the register block (QEMU's ACPI_PCIHP_ADDR). */
export const PCIHP_IO_BASE = 0xae00;
/** Its length (QEMU 7.2's ACPI_PCIHP_SIZE, through the acpi-index register). */
export const PCIHP_IO_SIZE = 0x18;
/** Register offsets in the block (QEMU's PCI_*_BASE). */
export const PCIHP_REG = { UP: 0x00, DOWN: 0x04, EJECT: 0x08, HOTPLUG_ENABLE: 0x0c, BUS_SELECT: 0x10, ACPI_INDEX: 0x14 } as const;

/** Notify values (ACPI 6.5 table 5.207). */
const DEVICE_CHECK = 1;
const EJECT_REQUEST = 3;

/** QEMU's name of a slot's device: "S" and the devfn of function 0 in two hex digits (slot 2 -> S10). */
export function slotDeviceName(slot: number): string {
  checkSlot(slot);
  return `S${(slot << 3).toString(16).toUpperCase().padStart(2, '0')}`;
}

function checkSlot(slot: number): void {
  // Slot 0 is the host bridge: never hotpluggable.
  if (!Number.isInteger(slot) || slot < 1 || slot > 31) throw new RangeError(`PCI hotplug slot ${slot} is not 1..31`);
}

/** Device (Sxx): _ADR, _SUN and an _EJ0 that writes the slot's bit to B0EJ. */
function slotDevice(slot: number): aml.Aml {
  return aml.device(slotDeviceName(slot),
    aml.name('_ADR', slot << 16), // function 0; acpiphp groups the slot's functions by device number
    aml.name('_SUN', slot),
    aml.method('_EJ0', { args: 1 }, aml.store(2 ** slot, aml.ref('B0EJ'))),
  );
}

/**
 * The terms to put inside Device (PCI0) for hotpluggable `slots` (each 1..31,
 * once, any order: the devices come out in slot order):
 *
 *   OperationRegion (PCST, SystemIO, 0xAE00, 0x08)
 *   Field (PCST, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32 }
 *   OperationRegion (SEJ, SystemIO, 0xAE08, 0x04)
 *   Field (SEJ, DWordAcc, NoLock, WriteAsZeros) { B0EJ, 32 }
 *   Device (PHPR) { _HID "PNP0A06", _UID "PCI Hotplug resources", _STA 0x0B, _CRS IO (0xAE00, len 0x18) }
 *   Device (S10) { Name (_ADR, 0x00020000)  Name (_SUN, 0x02)  Method (_EJ0, 1) { B0EJ = 0x04 } }  ...
 *   Method (DVNT, 2) { If ((Arg0 & 0x04)) { Notify (S10, Arg1) } ... }
 *   Method (PCNT, 0) { DVNT (PCIU, One)  DVNT (PCID, 0x03) }
 */
export function pciHotplugTerms(slots: readonly number[]): aml.Aml[] {
  const sorted = [...slots].sort((a, b) => a - b);
  sorted.forEach((s, i) => { checkSlot(s); if (sorted[i - 1] === s) throw new RangeError(`PCI hotplug slot ${s} given twice`); });
  const dword = { access: aml.FieldAccess.DWord, update: aml.FieldUpdate.WriteAsZeros };
  return [
    aml.opRegion('PCST', aml.RegionSpace.SystemIO, PCIHP_IO_BASE + PCIHP_REG.UP, 8),
    aml.field('PCST', dword, { name: 'PCIU', bits: 32 }, { name: 'PCID', bits: 32 }),
    aml.opRegion('SEJ', aml.RegionSpace.SystemIO, PCIHP_IO_BASE + PCIHP_REG.EJECT, 4),
    aml.field('SEJ', dword, { name: 'B0EJ', bits: 32 }),
    aml.device('PHPR',
      aml.name('_HID', aml.str('PNP0A06')),
      aml.name('_UID', aml.str('PCI Hotplug resources')),
      aml.name('_STA', 0x0b), // present, enabled, functioning; not shown in UIs
      aml.name('_CRS', aml.resourceTemplate([aml.ioPort({ min: PCIHP_IO_BASE, align: 1, length: PCIHP_IO_SIZE })])),
    ),
    ...sorted.map(slotDevice),
    // DVNT (mask, code): Notify each slot whose bit is set in the mask.
    aml.method('DVNT', { args: 2 },
      ...sorted.map((s) => aml.ifOp(aml.and(aml.arg(0), 2 ** s), aml.notify(aml.ref(slotDeviceName(s)), aml.arg(1))))),
    // PCNT: the GED's action. Reading PCIU clears it; PCID stays until the guest ejects.
    aml.method('PCNT', {},
      aml.call('DVNT', aml.ref('PCIU'), DEVICE_CHECK),
      aml.call('DVNT', aml.ref('PCID'), EJECT_REQUEST)),
  ];
}

/**
 * The hotpluggable slots of the pc machine's bus 0: 2..31 as on QEMU's pc,
 * where slot 1 holds the PIIX3 (not hotpluggable, so QEMU gives it no _EJ0),
 * plus any slot a cold-plugged device occupies (`occupied`), which the host
 * may unplug later as QEMU allows device_del of cold-plugged PCI devices.
 */
export function pcHotplugSlots(occupied: readonly number[] = []): number[] {
  const slots = new Set<number>(occupied);
  for (let s = 2; s < 32; s++) slots.add(s);
  return [...slots].sort((a, b) => a - b);
}
