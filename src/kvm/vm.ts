/** One KVM virtual machine: in-kernel irqchip and PIT, memory slots, IRQ lines. */
import * as libc from '../sys/libc.js';
import { CAP, IOEVENTFD_FLAG, encodeEnableCap, IRQCHIP_IOAPIC, KVM, MemoryRegion, decodeIoapic, type IoapicPin, PIT_SPEAKER_DUMMY, encodeCoalescedZone, encodeIoeventfd, encodeMemoryRegion, encodePitConfig } from '../sys/kvm-abi.js';
import { setIrqLine } from './irq.js';
import { IrqRoutes } from './irq-routes.js';
import { KvmSystem } from './system.js';

// Three pages KVM needs for its own use on Intel (TSS, identity map), placed
// just below the BIOS area at the top of 4 GiB where no RAM or device lives.
const TSS_ADDR = 0xfffbd000;
const IDENTITY_MAP_ADDR = 0xfffbc000n;

export class Vm {
  readonly fd: number;
  private nextSlot = 0;
  /** Slots given back by releaseSlot(), reused first: hotplug must not run KVM out of slots. */
  private readonly freeSlots: number[] = [];

  constructor(readonly kvm: KvmSystem) {
    this.fd = kvm.createVmFd();
    libc.ioctl(this.fd, KVM.SET_TSS_ADDR, TSS_ADDR);
    const idmap = new Uint8Array(8);
    new DataView(idmap.buffer).setBigUint64(0, IDENTITY_MAP_ADDR, true);
    libc.ioctlBuf(this.fd, KVM.SET_IDENTITY_MAP_ADDR, idmap);
    // PIC + IOAPIC + local APICs in the kernel; the PIT too (its speaker
    // port is a dummy so port 0x61 does not exit to us).
    libc.ioctl(this.fd, KVM.CREATE_IRQCHIP);
    libc.ioctlBuf(this.fd, KVM.CREATE_PIT2, encodePitConfig(PIT_SPEAKER_DUMMY));
  }

  /** Map host memory at a guest-physical address; returns the slot number. */
  mapMemory(guestPhysAddr: bigint, size: bigint, userAddr: bigint, flags = 0): number {
    const slot = this.reserveSlot();
    this.mapSlot(slot, guestPhysAddr, size, userAddr, flags);
    return slot;
  }
  /** A slot number for memory that comes and goes at one place (mapSlot/unmapMemory). */
  reserveSlot(): number { return this.freeSlots.pop() ?? this.nextSlot++; }
  /** Unmap a slot (if `mapped`: KVM refuses to delete an empty one) and make its number available again. */
  releaseSlot(slot: number, mapped = true): void {
    if (mapped) this.unmapMemory(slot);
    if (!this.freeSlots.includes(slot)) this.freeSlots.push(slot);
  }
  /** Memory slots in use (diagnostics: hotplug must give back what it takes). */
  get slotsInUse(): number { return this.nextSlot - this.freeSlots.length; }
  /** Map host memory in a reserved slot (unmap it first if it is mapped elsewhere). */
  mapSlot(slot: number, guestPhysAddr: bigint, size: bigint, userAddr: bigint, flags = 0): void {
    this.setRegion({ slot, flags, guestPhysAddr, size, userAddr });
  }
  /** Remove a slot (size 0), e.g. when a memory device is unplugged. */
  unmapMemory(slot: number): void {
    this.setRegion({ slot, flags: 0, guestPhysAddr: 0n, size: 0n, userAddr: 0n });
  }
  private setRegion(r: MemoryRegion): void {
    libc.ioctlBuf(this.fd, KVM.SET_USER_MEMORY_REGION, encodeMemoryRegion(r));
  }

  /**
   * Let KVM complete guest writes to these ports itself, queued in the
   * coalesced ring the vCPU threads drain, instead of exiting to user space
   * for each. Returns false (writes keep exiting) where KVM cannot.
   */
  coalescePio(port: number, size: number): boolean {
    if (this.kvm.checkExtension(CAP.COALESCED_PIO) <= 0) return false;
    libc.ioctlBuf(this.fd, KVM.REGISTER_COALESCED_MMIO, encodeCoalescedZone(port, size, true));
    return true;
  }

  /**
   * Turn off KVM's halt polling for this VM (KVM_CAP_HALT_POLL, max 0 ns); false
   * where the kernel lacks the capability (before Linux 5.14). vCPU 0 runs on the
   * main thread, and every event-loop wake-up (monitor input, the slice timer, a
   * worker's request) kicks it out of a guest halt. KVM takes those for short
   * halts and then spins up to halt_poll_ns on each re-entry, on the CPU the
   * event loop and the monitor's clients need.
   */
  disableHaltPolling(): boolean {
    if (this.kvm.checkExtension(CAP.HALT_POLL) <= 0) return false;
    libc.ioctlBuf(this.fd, KVM.ENABLE_CAP, encodeEnableCap(CAP.HALT_POLL, [0n]));
    return true;
  }

  private routes?: IrqRoutes;
  /** The VM's GSI routing table (MSI routes for irqfds), made on first use. */
  get irqRoutes(): IrqRoutes { return this.routes ??= new IrqRoutes(this.fd); }

  /** Drive an interrupt line of the in-kernel PIC/IOAPIC (GSI numbering). */
  setIrqLine(gsi: number, level: boolean): void { setIrqLine(this.fd, gsi, level); }

  /**
   * Have KVM signal `eventFd` on a `len`-byte guest write to MMIO address
   * `addr` instead of exiting to us (a virtqueue notify stays in the kernel).
   */
  ioeventfd(addr: number, len: number, eventFd: number, assign: boolean): void {
    const flags = assign ? 0 : IOEVENTFD_FLAG.DEASSIGN;
    libc.ioctlBuf(this.fd, KVM.IOEVENTFD, encodeIoeventfd(addr, len, eventFd, flags));
  }

  /** The guest's kvmclock in ns (struct kvm_clock_data.clock). */
  clock(): bigint {
    const data = new Uint8Array(48);
    libc.ioctlBuf(this.fd, KVM.GET_CLOCK, data);
    return new DataView(data.buffer).getBigUint64(0, true);
  }
  /** Set the guest's kvmclock (after a pause: the guest sees no time pass while it was stopped, as on QEMU). */
  setClock(ns: bigint): void {
    const data = new Uint8Array(48);
    new DataView(data.buffer).setBigUint64(0, ns, true);
    libc.ioctlBuf(this.fd, KVM.SET_CLOCK, data);
  }

  /** The in-kernel IOAPIC's pins as the guest programmed them, with pending and remote-IRR bits (diagnostics). */
  ioapicPins(): IoapicPin[] {
    const chip = new Uint8Array(520);
    new DataView(chip.buffer).setUint32(0, IRQCHIP_IOAPIC, true);
    libc.ioctlBuf(this.fd, KVM.GET_IRQCHIP, chip);
    return decodeIoapic(chip);
  }

  createVcpuFd(id: number): number { return libc.ioctl(this.fd, KVM.CREATE_VCPU, id); }

  close(): void { libc.close(this.fd); }
}
