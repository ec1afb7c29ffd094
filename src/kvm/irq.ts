/**
 * Interrupt injection into a VM by its fd, usable from any thread: the main
 * thread's devices and the threads that serve virtqueues both raise
 * interrupts without a round trip to each other.
 */
import * as libc from '../sys/libc.js';
import { KVM, encodeIrqLevel, encodeMsi } from '../sys/kvm-abi.js';

// One struct kvm_msi per thread, refilled for each message (a flush path allocates nothing here).
const msi = encodeMsi(0, 0, 0);
const msiView = new DataView(msi.buffer);

/** Drive a line of the in-kernel PIC/IOAPIC (GSI numbering). */
export function setIrqLine(vmFd: number, gsi: number, level: boolean): void {
  libc.ioctlBuf(vmFd, KVM.IRQ_LINE, encodeIrqLevel(gsi, level));
}

/** Deliver one MSI message (address and data as the guest programmed them) to the local APICs. */
export function signalMsi(vmFd: number, addressLo: number, addressHi: number, data: number): void {
  msiView.setUint32(0, addressLo >>> 0, true);
  msiView.setUint32(4, addressHi >>> 0, true);
  msiView.setUint32(8, data >>> 0, true);
  libc.ioctlBuf(vmFd, KVM.SIGNAL_MSI, msi);
}
