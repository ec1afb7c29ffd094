/**
 * query-pci's PciDeviceInfo for one function, read from its configuration
 * space the way QEMU's pci_get_dev_info reads its own.
 */
import type { PciDeviceInfo } from '../monitor/machine-control.js';
import { PCI_CFG, type PciConfigSpace } from '../devices/pci/config-space.js';

/** QEMU's pci_class_descriptions entries for the classes pmemvm's functions use. */
const CLASS_DESC = new Map<number, string>([[0x0600, 'Host bridge'], [0x0580, 'Memory controller']]);

export function pciDeviceInfo(f: { bus: number; device: number; fn: number; config: PciConfigSpace }, qdevIds: ReadonlyMap<number, string>): PciDeviceInfo {
  const c = f.config;
  const u16 = (at: number) => c.read(at, 2);
  const cls = c.read(PCI_CFG.CLASS + 1, 2); // class << 8 | subclass
  const pin = c.bytes[PCI_CFG.INTERRUPT_PIN]!;
  const desc = CLASS_DESC.get(cls);
  return {
    bus: f.bus, slot: f.device, function: f.fn,
    classInfo: desc ? { desc, class: cls } : { class: cls },
    id: { vendor: u16(PCI_CFG.VENDOR), device: u16(PCI_CFG.DEVICE), subsystemVendor: u16(PCI_CFG.SUBSYSTEM_VENDOR), subsystem: u16(PCI_CFG.SUBSYSTEM) },
    ...(pin ? { irq: c.bytes[PCI_CFG.INTERRUPT_LINE]! } : {}),
    irqPin: pin,
    regions: c.barList().map((b) => ({
      bar: b.index, type: 'memory' as const, address: b.address ?? -1, size: b.size, prefetch: b.prefetch, memType64: b.is64,
    })),
    qdevId: qdevIds.get(f.device) ?? '',
  };
}
