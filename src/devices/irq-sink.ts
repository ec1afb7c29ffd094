/** Where a device's interrupts go: its INTx line, or MSI messages (both reach KVM in the machine). */
export interface IrqSink {
  /** Drive the function's INTx line (level-triggered). */
  setIntx(level: boolean): void;
  /** Deliver one MSI message as the guest programmed it. */
  signalMsi(addressLo: number, addressHi: number, data: number): void;
}
