/**
 * Plugging a virtio-pmem-pci device into the pc machine: its backend mapped at
 * its device-memory address, its PCI function on bus 0, its BAR on the MMIO
 * bus wherever the guest puts it, its queue notify register as a KVM
 * ioeventfd, and its request queue served by the process's device I/O, which
 * serves every virtio-pmem device (devices/virtio/pmem-io.ts). Interrupts
 * are MSI-X, or INTx routed as the DSDT's _PRT says.
 *
 * One exception to the ioeventfd: a machine with one vCPU, whose device I/O runs
 * on the main thread. The notify's exit then comes to the thread that serves
 * the queue anyway, and serving it there saves the ioeventfd's round (a poll
 * completion, a signal, KVM_RUN returning for it, the counter read and the
 * poll armed again): 12 to 15% of a warm flush's p50 in the test host.
 */
import type { IoBus } from '../devices/bus.js';
import type { IrqSink } from '../devices/irq-sink.js';
import type { PciHost } from '../devices/pci/host-bridge.js';
import { COMMON_CONFIG_OFFSET, VirtioPciTransport, notifyOffset } from '../devices/virtio/pci.js';
import { VirtioPmem } from '../devices/virtio/pmem.js';
import { pmemIo } from '../devices/virtio/pmem-io.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { MemoryBackend } from '../memory/backend.js';
import { intxGsi } from '../acpi/pci-host.js';
import { signalMsi } from '../kvm/irq.js';
import { irqfdSupported } from '../kvm/irq-routes.js';
import type { Vm } from '../kvm/vm.js';
import { MEM_READONLY } from '../sys/kvm-abi.js';
import * as libc from '../sys/libc.js';
import { debug } from '../debug.js';

/** A virtio-pmem device as placed by MemoryDevices. */
export interface VirtioPmemPlacement {
  /** The device id (-device id=), if it has one. */
  id?: string;
  name: string;
  addr: number;
  size: number;
  pciSlot: number;
  backend: MemoryBackend;
  /** Added by device_add while pmemvm ran. */
  hotplugged: boolean;
}

export interface VirtioPmemParts {
  vm: Vm;
  pci: PciHost;
  mmio: IoBus;
  /** Guest RAM (the rings live there). */
  memory: GuestMemory;
  /** Map host memory into the guest; returns the KVM slot. */
  mapMemory: (gpa: number, size: number, hostAddr: bigint, readonly: boolean) => number;
  /** Device I/O failed: the machine cannot go on. */
  onFatal: (message: string) => void;
  /** The machine has only vCPU 0 (no other vCPU can write a notify register). */
  oneVcpu: boolean;
}

export interface VirtioPmemHandle {
  readonly placement: VirtioPmemPlacement;
  /** Let device I/O finish the device's flush in hand, then end its service. */
  stop(): Promise<void>;
  /**
   * Hot unplug, after the guest let go (its _EJ0): the PCI function, BAR, notify
   * registers and memory leave the guest at once; the device's service ends
   * after the flush in hand. The backend stays mapped in pmemvm (object-del closes it).
   */
  detach(): Promise<void>;
  /** Release host memory the VM mapped (after the VM is closed). */
  destroy(): void;
  /** The request queue's state in one line (diagnostics). */
  describe(): string;
}

const NOTIFY_WIDTH = 2; // Linux writes the queue index as 16 bits

export function attachVirtioPmem(p: VirtioPmemPlacement, parts: VirtioPmemParts): VirtioPmemHandle {
  const b = p.backend;
  const memorySlot = parts.mapMemory(p.addr, p.size, b.hostAddr, b.spec.readonly);
  const log = (m: string) => debug(`${p.name}: ${m}`);
  const gsi = intxGsi(p.pciSlot, 0);
  const irq: IrqSink = {
    setIntx: (level) => parts.vm.setIrqLine(gsi, level),
    signalMsi: (lo, hi, data) => signalMsi(parts.vm.fd, lo, hi, data),
  };
  const notifyFd = libc.eventfd();
  const model = new VirtioPmem(p.addr, p.size);
  // Linux reads the device status around every flush: the common configuration is also a
  // read-only page in the guest, so those reads never exit (writes still do, to the transport).
  const PAGE = 4096;
  const mirrorAddr = libc.mmap(PAGE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED | libc.MAP_ANONYMOUS);
  const mirrorSlot = parts.vm.reserveSlot();
  let mapped: number | null = null;
  const transport = new VirtioPciTransport(model, {
    memory: parts.memory,
    irq,
    // A notify that did not go through an ioeventfd (none, other width, BAR not yet registered).
    notify: () => io.notify(),
    interruptsChanged: () => io.interruptsChanged(),
    quiesce: () => io.quiesce(),
    onError: log,
    commonMirror: new Uint8Array(libc.view(mirrorAddr, PAGE)),
  });

  const deviceIo = pmemIo();
  const useIoeventfd = !(parts.oneVcpu && deviceIo.onMainThread);
  if (!useIoeventfd) log('queue notify served in vCPU 0\'s exit (one vCPU, device I/O on the main thread): no ioeventfd');
  const io = deviceIo.add({
    sab: transport.shared.sab, queues: model.queueSizes.length, vectors: transport.shared.vectors,
    regions: parts.memory.list().map((r) => ({ name: r.name, gpa: r.gpa, size: r.size, hostAddr: r.hostAddr })),
    // The file a guest flush must fsync, or none: device DAX (fsync is EINVAL there, and stores
    // are already on the media), MAP_SYNC, or a backend whose writes are not kept (share=off,
    // readonly, discard-data: no flushing for nothing, as discard-data asks).
    backendFd: b.guestFlushFd, notifyFd, vmFd: parts.vm.fd, intxGsi: gsi,
  }, {
    onError: log,
    onBroken: (m) => transport.broken(m),
    onFatal: (m) => parts.onFatal(`${p.name}: ${m}`),
  }, irqfdSupported(parts.vm.kvm.fd) ? parts.vm.irqRoutes : undefined);
  let stopping = false;

  // The BAR follows the guest's PCI programming; the notify registers go with it into KVM.
  let fastNotify = false, mirrored = false;
  const ioeventfds = (bar: number, assign: boolean) => {
    for (let i = 0; i < model.queueSizes.length; i++) parts.vm.ioeventfd(bar + notifyOffset(i), NOTIFY_WIDTH, notifyFd, assign);
  };
  transport.pci.addWriteListener(() => {
    const at = transport.pci.barAddress(transport.barIndex);
    if (at === mapped) return;
    if (mapped !== null) {
      parts.mmio.unregister(mapped);
      if (mirrored) parts.vm.unmapMemory(mirrorSlot);
      if (fastNotify) ioeventfds(mapped, false);
    }
    mapped = null;
    fastNotify = mirrored = false;
    if (at === null) return;
    try {
      parts.mmio.register(at, transport.barSize, transport.bar, `${p.name}-bar`);
      mapped = at;
    } catch (e) {
      log(`BAR at 0x${at.toString(16)} not mapped: ${(e as Error).message}`);
      return;
    }
    // Both are shortcuts: without them reads and notifies exit to the main thread, still correct.
    try {
      parts.vm.mapSlot(mirrorSlot, BigInt(at + COMMON_CONFIG_OFFSET), BigInt(PAGE), mirrorAddr, MEM_READONLY);
      mirrored = true;
    } catch (e) {
      log(`common configuration not mirrored: ${(e as Error).message}`);
    }
    if (!useIoeventfd) return;
    try {
      ioeventfds(at, true);
      fastNotify = true;
    } catch (e) {
      log(`no ioeventfd for the notify registers: ${(e as Error).message}`);
    }
  });
  parts.pci.add(p.pciSlot, 0, transport.pci);

  let stopped: Promise<void> | null = null;
  const stop = () => stopped ??= (async () => {
    stopping = true;
    log(`${await io.remove()} flushes`);
    libc.close(notifyFd);
  })();
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    libc.munmap(mirrorAddr, PAGE);
  };

  return {
    placement: p,
    stop,
    async detach() {
      parts.pci.remove(p.pciSlot, 0);
      if (mapped !== null) {
        parts.mmio.unregister(mapped);
        if (fastNotify) ioeventfds(mapped, false);
      }
      mapped = null;
      fastNotify = false;
      parts.vm.releaseSlot(mirrorSlot, mirrored);
      mirrored = false;
      parts.vm.releaseSlot(memorySlot);
      await stop();
      destroy();
    },
    destroy,
    describe() {
      // Ring indexes straight from guest memory: avail ahead of used means requests not yet answered.
      const q = transport.shared.locked(() => transport.shared.queue(0));
      if (!q) return `${p.name}: queue not live`;
      let rings: string;
      try { rings = `avail.idx=${parts.memory.u16(q.avail + 2)} used.idx=${parts.memory.u16(q.used + 2)}`; } catch { rings = 'rings outside RAM'; }
      return `${p.name}: queue size ${q.size} ${rings} vector ${transport.shared.queueVector(0)}; service ${stopping ? 'ending' : 'running'}`;
    },
  };
}
