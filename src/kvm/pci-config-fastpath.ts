/**
 * PCI configuration mechanism #1 (ports 0xCF8 address latch, 0xCFC-0xCFF
 * data), answered in the vCPU thread for devices that do not exist. Linux
 * probes every bus/slot at boot (early quirks, then the bus scan): thousands
 * of accesses that would each cost a round trip to the main thread. Only
 * accesses to present functions go on to the main thread's PCI host bridge.
 *
 * State shared by all vCPUs (Linux serialises CF8/CFC pairs with a lock, so
 * one latch is right): word 0 = the CF8 latch; bytes 64.. = a presence
 * bitmap, one bit per bus/device (256 x 32).
 */
export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;
const BITMAP = 64;
export const PCI_SHARED_BYTES = BITMAP + (256 * 32) / 8;

export class PciConfigShared {
  readonly latch: Int32Array;
  /** Word 0 of this: taken by the vCPU thread draining the coalesced CF8 writes. */
  readonly drainLock: Int32Array;
  readonly present: Uint8Array;
  constructor(readonly sab = new SharedArrayBuffer(PCI_SHARED_BYTES)) {
    this.latch = new Int32Array(sab, 0, 1);
    this.drainLock = new Int32Array(sab, 4, 1);
    this.present = new Uint8Array(sab, BITMAP, (256 * 32) / 8);
  }
  setPresent(bus: number, device: number, on: boolean): void {
    const bit = bus * 32 + device;
    if (on) Atomics.or(this.present, bit >> 3, 1 << (bit & 7));
    else Atomics.and(this.present, bit >> 3, ~(1 << (bit & 7)));
  }
  /** The latched address if it is enabled and names a present device, else null. */
  target(): number | null {
    const a = Atomics.load(this.latch, 0) >>> 0;
    if (!(a & 0x8000_0000)) return null;
    const bit = (a >>> 11) & 0x1fff; // bus[23:16] device[15:11]
    return (Atomics.load(this.present, bit >> 3) >> (bit & 7)) & 1 ? a : null;
  }
}

/**
 * Handle a port access in the vCPU thread if it is a config access that
 * needs no device. Returns true when handled; the access bytes are at
 * `off` in `data` (the kvm_run page), read and written in place: this runs
 * for every CF8/CFC exit (some 30 thousand per boot), so it allocates nothing.
 */
export function pciFastPath(pci: PciConfigShared, port: number, size: number, out: boolean, data: DataView, off: number): boolean {
  if (port === PCI_CONFIG_ADDRESS && size === 4) {
    if (out) Atomics.store(pci.latch, 0, data.getUint32(off, true) & 0x80fffffc | 0);
    else data.setUint32(off, Atomics.load(pci.latch, 0) >>> 0, true);
    return true;
  }
  if (port >= PCI_CONFIG_DATA && port + size <= PCI_CONFIG_DATA + 4) {
    if (pci.target() !== null) return false;
    if (!out) for (let i = 0; i < size; i++) data.setUint8(off + i, 0xff);
    return true;
  }
  return false;
}
