/**
 * A VM's GSI routing table, with MSI routes, and irqfds on those GSIs: an
 * io_uring that completes a device's request in the kernel then raises the
 * device's MSI by writing its eventfd, with no return to user space to do it.
 */
import * as libc from '../sys/libc.js';
import { CAP, IRQCHIP_IOAPIC, IRQCHIP_PIC_MASTER, IRQCHIP_PIC_SLAVE, IRQFD_FLAG, KVM, encodeIrqRouting, encodeIrqfd, type IrqRoute } from '../sys/kvm-abi.js';

/** The first GSI past the IOAPIC's 24 pins: where MSI routes go. */
export const FIRST_MSI_GSI = 24;
/** The highest GSI KVM takes (below KVM_MAX_IRQ_ROUTES, 4096). */
export const MAX_GSI = 4095;

export interface MsiMessage { addressLo: number; addressHi: number; data: number }

/**
 * The whole table to install: KVM's default after KVM_CREATE_IRQCHIP
 * (kvm_setup_default_irq_routing, in its order), since KVM_SET_GSI_ROUTING replaces
 * it and INTx lines are still driven with KVM_IRQ_LINE on GSIs 0-23, then the MSI routes.
 */
export function routingTable(msi: ReadonlyMap<number, MsiMessage>): IrqRoute[] {
  const table: IrqRoute[] = [];
  for (let gsi = 0; gsi < FIRST_MSI_GSI; gsi++) {
    table.push({ gsi, kind: 'irqchip', irqchip: IRQCHIP_IOAPIC, pin: gsi });
    if (gsi < 16) table.push({ gsi, kind: 'irqchip', irqchip: gsi < 8 ? IRQCHIP_PIC_MASTER : IRQCHIP_PIC_SLAVE, pin: gsi % 8 });
  }
  for (const [gsi, m] of [...msi].sort(([a], [b]) => a - b)) table.push({ gsi, kind: 'msi', ...m });
  return table;
}

/**
 * The VM's GSI routing table. One owner per VM: each install replaces the
 * whole table, so a second writer would drop this one's routes.
 */
export class IrqRoutes {
  private readonly msi = new Map<number, MsiMessage>();
  private nextGsi = FIRST_MSI_GSI;
  /** GSIs given back by freeMsi(), reused first: MSI-X vectors come and go with hotplug. */
  private readonly freeGsis: number[] = [];

  /** After KVM_CREATE_IRQCHIP; installs nothing until the first MSI route changes. `install` is for tests. */
  constructor(
    private readonly vmFd: number,
    private readonly install: (table: Uint8Array) => void = (table) => { libc.ioctlBuf(vmFd, KVM.SET_GSI_ROUTING, table); },
  ) {}

  /** A free GSI (24 and up, freed ones reused) for an MSI route; no route is installed for it until setMsi. */
  allocMsi(): number {
    const gsi = this.freeGsis.pop() ?? (this.nextGsi <= MAX_GSI ? this.nextGsi++ : undefined);
    if (gsi === undefined) throw new Error(`KVM has no GSI left for an MSI route (${MAX_GSI + 1 - FIRST_MSI_GSI} in use)`);
    return gsi;
  }

  /** Route `gsi` to this MSI message and install the table; nothing happens when the route is unchanged. */
  setMsi(gsi: number, addressLo: number, addressHi: number, data: number): void {
    this.checkAllocated(gsi);
    const m = { addressLo: addressLo >>> 0, addressHi: addressHi >>> 0, data: data >>> 0 };
    const old = this.msi.get(gsi);
    if (old && old.addressLo === m.addressLo && old.addressHi === m.addressHi && old.data === m.data) return;
    this.update(gsi, m, old);
  }

  /** Drop gsi's route (installing the table if it had one) and free the GSI. */
  freeMsi(gsi: number): void {
    this.checkAllocated(gsi);
    const old = this.msi.get(gsi);
    if (old) this.update(gsi, undefined, old);
    this.freeGsis.push(gsi);
  }

  /** Change one route and install; on failure the map keeps what KVM still has. */
  private update(gsi: number, m: MsiMessage | undefined, old: MsiMessage | undefined): void {
    if (m) this.msi.set(gsi, m); else this.msi.delete(gsi);
    try {
      this.install(encodeIrqRouting(routingTable(this.msi)));
    } catch (e) {
      if (old) this.msi.set(gsi, old); else this.msi.delete(gsi);
      throw e;
    }
  }

  // A stray GSI would route over the IOAPIC's lines or another device's vector.
  private checkAllocated(gsi: number): void {
    if (gsi < FIRST_MSI_GSI || gsi >= this.nextGsi || this.freeGsis.includes(gsi)) throw new Error(`GSI ${gsi} is not an allocated MSI route`);
  }
}

/** Let writes to `eventFd` raise `gsi` (KVM_IRQFD); a count already in the eventfd raises it at once. */
export function assignIrqfd(vmFd: number, eventFd: number, gsi: number): void {
  libc.ioctlBuf(vmFd, KVM.IRQFD, encodeIrqfd(eventFd, gsi, 0));
}
/** Stop that; synchronous, and it consumes the eventfd's count. */
export function deassignIrqfd(vmFd: number, eventFd: number, gsi: number): void {
  libc.ioctlBuf(vmFd, KVM.IRQFD, encodeIrqfd(eventFd, gsi, IRQFD_FLAG.DEASSIGN));
}

/**
 * KVM can route MSIs on GSIs and take irqfds (KVM_CAP_IRQ_ROUTING and KVM_CAP_IRQFD);
 * where it cannot, MSIs go through KVM_SIGNAL_MSI from user space. `kvmFd` is /dev/kvm's
 * (KvmSystem.fd), asked as KvmSystem.checkExtension asks it.
 */
export function irqfdSupported(kvmFd: number): boolean {
  return libc.ioctl(kvmFd, KVM.CHECK_EXTENSION, CAP.IRQ_ROUTING) > 0 && libc.ioctl(kvmFd, KVM.CHECK_EXTENSION, CAP.IRQFD) > 0;
}
