// The PCI host bridge in the DSDT: \_SB.PCI0 (PNP0A03) with the bus range and
// the I/O and memory windows the OS may assign to BARs. Like QEMU's pc, the
// bridge also passes the legacy I/O ports (everything but its own 0xCF8-0xCFF)
// and the 32-bit hole between RAM and the IOAPIC.

import * as aml from './aml.js';
import { pciHotplugTerms } from './pci-hotplug.js';

export interface PciHostWindows {
  /** 32-bit MMIO window [base, end]: from the end of low RAM to below the IOAPIC. */
  mmio32: { base: number; end: number };
  /** 64-bit MMIO window above RAM and device memory; omitted when undefined. */
  mmio64?: { base: bigint; size: bigint };
  /** Bus-0 slots with ACPI hotplug (src/acpi/pci-hotplug.ts); none when undefined. */
  hotplugSlots?: readonly number[];
}

/** The IOAPIC input (GSI 16-19) of a slot's INTx pin (0 = INTA#): the usual swizzle. */
export function intxGsi(slot: number, pin: number): number {
  return 16 + ((slot + pin) & 3);
}

/** _PRT: every slot's four INTx pins straight to IOAPIC GSIs (no link devices). */
function routingTable(): aml.Aml {
  const entries: aml.Aml[] = [];
  for (let slot = 1; slot < 32; slot++) {
    for (let pin = 0; pin < 4; pin++) entries.push(aml.pkg((slot << 16) | 0xffff, pin, 0, intxGsi(slot, pin)));
  }
  return aml.name('_PRT', aml.varPkg(entries.length, ...entries));
}

export function pciHostDevice(w: PciHostWindows): aml.Aml {
  const window = { producer: true, minFixed: true, maxFixed: true } as const;
  const resources = [
    aml.wordBusNumber({ ...window, min: 0, max: 0xff, length: 0x100 }),
    aml.ioPort({ min: 0xcf8, length: 8, align: 1 }),
    aml.wordIO({ ...window, min: 0x0000, max: 0x0cf7, length: 0x0cf8 }),
    aml.wordIO({ ...window, min: 0x0d00, max: 0xffff, length: 0xf300 }),
    aml.dwordMemory({ ...window, caching: 'noncacheable', min: w.mmio32.base, max: w.mmio32.end, length: w.mmio32.end - w.mmio32.base + 1 }),
  ];
  if (w.mmio64) {
    resources.push(aml.qwordMemory({
      ...window, caching: 'noncacheable', min: w.mmio64.base, max: w.mmio64.base + w.mmio64.size - 1n, length: w.mmio64.size,
    }));
  }
  return aml.device('PCI0',
    aml.name('_HID', aml.eisaId('PNP0A03')),
    aml.name('_UID', 0),
    aml.name('_ADR', 0),
    aml.name('_BBN', 0),
    aml.name('_CRS', aml.resourceTemplate(resources)),
    routingTable(),
    ...(w.hotplugSlots ? pciHotplugTerms(w.hotplugSlots) : []),
  );
}
