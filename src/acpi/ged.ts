// The ACPI Generic Event Device (ACPI 6.5 §5.6.9, _HID "ACPI0013") and the
// control-method power button it notifies. A hardware-reduced machine has no
// SCI and no GPE blocks, so platform events reach the guest this way: the VMM
// sets a bit in the event selector register (ESEL) and raises the GED's
// interrupt; Linux's drivers/acpi/evged.c runs _EVT, which reads ESEL (the read
// clears it) and does what each set bit stands for. The event bits are QEMU's
// (include/hw/acpi/generic_event_device.h), so a guest sees the same contract
// as on QEMU's microvm and arm virt machines.
//
// The interrupt: ISA IRQ 9 (GSI 9), Edge, ActiveHigh, Exclusive, as QEMU's GED
// declares its line. The MADT has no interrupt source override for IRQ 9, so
// the IOAPIC pin keeps the ISA bus default (edge, active-high) and the _CRS
// agrees with it. evged requests a threaded, IRQF_ONESHOT handler for either
// trigger mode (it would run _Exx/_Lxx first if present, else _EVT with
// Arg0 = GSI); with an edge pin, Linux does not mask the line while _EVT runs,
// so an event that arrives meanwhile makes the thread run again, and a bit set
// while no handler was listening is still in ESEL for the next _EVT.
//
// The register: one 32-bit ESEL at GED_MMIO_BASE (0xFEDF0000), outside the
// PCI host bridge's 32-bit window (which ends at 0xFEBFFFFF), so the guest
// never assigns a BAR over it; between the IOAPIC (0xFEC00000) and the
// LAPIC/MSI range (0xFEE00000-0xFEEFFFFF), clear of the places PCs put an HPET
// (0xFED00000) or a TPM (0xFED40000).

import * as aml from './aml.js';

/** ESEL bits (QEMU's ACPI_GED_*_EVT values). */
export const GED_EVENT = {
  /** Memory hotplug: QEMU calls \_SB.MHPC.MSCN (not built here yet). */
  MEMORY_HOTPLUG: 1 << 0,
  /** Power button pressed: Notify (\_SB.PWRB, 0x80). */
  POWER_DOWN: 1 << 1,
  /** NVDIMM hotplug: Notify (\_SB.NVDR, 0x80), which makes Linux re-read _FIT. */
  NVDIMM_HOTPLUG: 1 << 2,
  /**
   * PCI hotplug: \_SB.PCI0.PCNT (src/acpi/pci-hotplug.ts). QEMU 7.2's GED has no
   * such bit (its pc machine signals PCI hotplug with GPE bit 1, and 0x8 is
   * taken by CPU hotplug), so this takes the next free one: a guest sees the
   * same meanings as on QEMU for every bit QEMU defines.
   */
  PCI_HOTPLUG: 1 << 4,
} as const;

/** Guest-physical address of ESEL; see the header comment. */
export const GED_MMIO_BASE = 0xfedf0000;
/** Size of the GED's MMIO window: ESEL only. */
export const GED_MMIO_SIZE = 4;
/** The GED's interrupt: ISA IRQ 9 = IOAPIC GSI 9. */
export const GED_IRQ = 9;

/** What _EVT does for one ESEL bit. */
export interface GedEvent {
  /** One bit, e.g. GED_EVENT.POWER_DOWN. */
  bit: number;
  /** The AML run when the bit is set (a Notify, a method call, ...). */
  action: aml.Aml;
}

/** Power button press: Notify (\_SB.PWRB, 0x80) ("status change", which Linux's button driver reports as KEY_POWER). */
export const powerDownEvent: GedEvent = { bit: GED_EVENT.POWER_DOWN, action: aml.notify(aml.ref('\\_SB.PWRB'), 0x80) };

/**
 * NVDIMM hotplug: Notify (\_SB.NVDR, 0x80). Linux's nfit driver answers by
 * evaluating the root device's _FIT and merging the DIMMs it has not seen.
 */
export const nvdimmHotplugEvent: GedEvent = { bit: GED_EVENT.NVDIMM_HOTPLUG, action: aml.notify(aml.ref('\\_SB.NVDR'), 0x80) };

/** PCI hotplug on bus 0: \_SB.PCI0.PCNT () notifies the slots the up and down registers name. */
export const pciHotplugEvent: GedEvent = { bit: GED_EVENT.PCI_HOTPLUG, action: aml.call('\\_SB.PCI0.PCNT') };

export interface GedOptions {
  /** The handled events, each bit once; _EVT tests them in this order. */
  events: readonly GedEvent[];
  /** Default GED_MMIO_BASE. */
  base?: number;
  /** Default GED_IRQ. */
  gsi?: number;
}

/** The bits a set of events handles (what the device model may raise). */
export function gedEventMask(events: readonly GedEvent[]): number {
  let mask = 0;
  for (const e of events) {
    if (!Number.isInteger(e.bit) || e.bit <= 0 || e.bit > 0x80000000 || (e.bit & (e.bit - 1)) !== 0) {
      throw new RangeError(`GED event 0x${e.bit.toString(16)} is not one bit of ESEL`);
    }
    if (mask & e.bit) throw new RangeError(`GED event 0x${e.bit.toString(16)} given twice`);
    mask = (mask | e.bit) >>> 0;
  }
  return mask;
}

/**
 * Device (GED) for \_SB:
 *
 *   Name (_HID, "ACPI0013")
 *   Name (_UID, "GED")
 *   Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 9 } })
 *   OperationRegion (EREG, SystemMemory, 0xFEDF0000, 0x04)
 *   Field (EREG, DWordAcc, NoLock, WriteAsZeros) { ESEL, 32 }
 *   Method (_EVT, 1, Serialized) {
 *     Local0 = ESEL
 *     If ((Local0 & bit) == bit) { action }   // one If per event
 *   }
 */
export function gedDevice(o: GedOptions): aml.Aml {
  gedEventMask(o.events);
  const base = o.base ?? GED_MMIO_BASE;
  const gsi = o.gsi ?? GED_IRQ;
  const sel = aml.local(0);
  return aml.device('GED',
    aml.name('_HID', aml.str('ACPI0013')),
    aml.name('_UID', aml.str('GED')),
    aml.name('_CRS', aml.resourceTemplate([aml.interrupt({ gsis: [gsi], edge: true })])),
    aml.opRegion('EREG', aml.RegionSpace.SystemMemory, base, GED_MMIO_SIZE),
    aml.field('EREG', { access: aml.FieldAccess.DWord, update: aml.FieldUpdate.WriteAsZeros }, { name: 'ESEL', bits: 32 }),
    aml.method('_EVT', { args: 1, serialized: true },
      aml.store(aml.ref('ESEL'), sel),
      ...o.events.map((e) => aml.ifOp(aml.lEqual(aml.and(sel, e.bit), e.bit), e.action))),
  );
}

/** Device (PWRB) for \_SB: a control-method power button (PNP0C0C), as QEMU declares it. */
export function powerButtonDevice(): aml.Aml {
  return aml.device('PWRB',
    aml.name('_HID', aml.str('PNP0C0C')),
    aml.name('_UID', 0),
  );
}
