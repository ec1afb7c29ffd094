/**
 * Plugging a virtio-pmem-pci device into the pc machine: its backend mapped at
 * its device-memory address, its PCI function on bus 0, its BAR on the MMIO
 * bus wherever the guest puts it, and its INTx pin routed as the DSDT's _PRT says.
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import type { IoBus } from '../devices/bus.js';
import type { PciHost } from '../devices/pci/host-bridge.js';
import { VirtioPciTransport } from '../devices/virtio/pci.js';
import { VirtioPmem } from '../devices/virtio/pmem.js';
import type { QueueMemory } from '../devices/virtio/queue.js';
import type { MemoryBackend } from '../memory/backend.js';
import { intxGsi } from '../acpi/pci-host.js';

const fsync = promisify(fs.fsync);

/** A virtio-pmem device as placed by MemoryDevices. */
export interface VirtioPmemPlacement {
  name: string;
  addr: number;
  size: number;
  pciSlot: number;
  backend: MemoryBackend;
}

export interface VirtioPmemParts {
  pci: PciHost;
  mmio: IoBus;
  memory: QueueMemory;
  setIrqLine: (gsi: number, level: boolean) => void;
  mapMemory: (gpa: number, size: number, hostAddr: bigint, readonly: boolean) => void;
}

export function attachVirtioPmem(p: VirtioPmemPlacement, parts: VirtioPmemParts): VirtioPmem {
  const b = p.backend;
  parts.mapMemory(p.addr, p.size, b.hostAddr, b.spec.readonly);
  const log = (m: string) => { if (process.env.PMEMVM_DEBUG) process.stderr.write(`pmemvm: debug: ${p.name}: ${m}\n`); };
  const model = new VirtioPmem({
    start: p.addr,
    size: p.size,
    // Guest stores land in the file's page cache through the shared mapping; fsync makes them durable.
    flusher: { flush: () => (b.fd >= 0 ? fsync(b.fd) : Promise.resolve()) },
    onError: log,
  });
  const gsi = intxGsi(p.pciSlot, 0);
  const transport = new VirtioPciTransport(model, {
    memory: parts.memory,
    setIrq: (level) => parts.setIrqLine(gsi, level),
    onError: log,
  });
  let mapped: number | null = null;
  transport.pci.onWrite = () => {
    const at = transport.pci.barAddress(transport.barIndex);
    if (at === mapped) return;
    if (mapped !== null) parts.mmio.unregister(mapped);
    mapped = null;
    if (at !== null) {
      try {
        parts.mmio.register(at, transport.barSize, transport.bar, `${p.name}-bar`);
        mapped = at;
      } catch (e) {
        log(`BAR at 0x${at.toString(16)} not mapped: ${(e as Error).message}`);
      }
    }
  };
  parts.pci.add(p.pciSlot, 0, transport.pci);
  return model;
}
