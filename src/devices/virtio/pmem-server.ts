/**
 * A virtio-pmem request server built from what device I/O is handed for one device
 * (PmemDeviceData: plain data, so that it can also cross to the device I/O thread): the
 * shared transport state, guest RAM, and the interrupt lines of the VM. Both ways of
 * serving devices (pmem-reactor.ts, pmem-worker.ts) build theirs here; they differ only in
 * how the backend is flushed and where errors go.
 */
import { setIrqLine, signalMsi } from '../../kvm/irq.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { PmemRequestServer, type PmemServerOptions } from './pmem.js';
import type { PmemDeviceData } from './pmem-io.js';
import { VirtioShared } from './shared.js';

/** Guest RAM as handed to device I/O. */
export function guestMemoryOf(d: PmemDeviceData): GuestMemory {
  const memory = new GuestMemory();
  for (const r of d.regions) memory.add(r.name, r.gpa, r.size, r.hostAddr);
  return memory;
}

export function pmemServerFor(
  d: PmemDeviceData,
  o: Pick<PmemServerOptions, 'flush' | 'flushAndAnswer' | 'hurry' | 'onError' | 'onBroken'>,
  memory = guestMemoryOf(d),
): PmemRequestServer {
  return new PmemRequestServer({
    shared: new VirtioShared(d.queues, d.vectors, d.sab),
    memory,
    irq: {
      setIntx: (level) => setIrqLine(d.vmFd, d.intxGsi, level),
      signalMsi: (lo, hi, data) => signalMsi(d.vmFd, lo, hi, data),
    },
    ...o,
  });
}
