/**
 * A PCI function's 256-byte configuration space (type 0 header), with the
 * bits software may change kept in a write mask: reads return the bytes,
 * writes change only the masked bits (PCI Local Bus 3.0, chapter 6).
 */
export interface PciIdentity {
  vendor: number;
  device: number;
  revision: number;
  /** class code << 16 | subclass << 8 | programming interface */
  classCode: number;
  subsystemVendor?: number;
  subsystem?: number;
  /** 0: endpoint; bit 7 set: multi-function. */
  headerType?: number;
}

export const PCI_CFG = {
  VENDOR: 0x00, DEVICE: 0x02, COMMAND: 0x04, STATUS: 0x06, REVISION: 0x08, CLASS: 0x09,
  HEADER_TYPE: 0x0e, BAR0: 0x10, SUBSYSTEM_VENDOR: 0x2c, SUBSYSTEM: 0x2e, CAPABILITIES: 0x34,
  INTERRUPT_LINE: 0x3c, INTERRUPT_PIN: 0x3d,
} as const;
export const PCI_COMMAND_MEMORY = 0x2;
const STATUS_CAP_LIST = 0x10;

export class PciConfigSpace {
  readonly bytes = new Uint8Array(256);
  /** 1 bits: writable by the guest. */
  readonly writable = new Uint8Array(256);

  private nextCap = 0x40;
  private lastCap = -1;
  private readonly bars = new Map<number, { size: number; flags: number }>();
  /** Called after every guest write (BAR and command changes move the device's MMIO; MSI-X control). */
  private readonly writeListeners: Array<(offset: number, size: number) => void> = [];

  constructor(id: PciIdentity) {
    const v = new DataView(this.bytes.buffer);
    v.setUint16(PCI_CFG.VENDOR, id.vendor, true);
    v.setUint16(PCI_CFG.DEVICE, id.device, true);
    this.bytes[PCI_CFG.REVISION] = id.revision;
    this.bytes[PCI_CFG.CLASS] = id.classCode & 0xff;
    this.bytes[PCI_CFG.CLASS + 1] = (id.classCode >> 8) & 0xff;
    this.bytes[PCI_CFG.CLASS + 2] = (id.classCode >> 16) & 0xff;
    this.bytes[PCI_CFG.HEADER_TYPE] = id.headerType ?? 0;
    v.setUint16(PCI_CFG.SUBSYSTEM_VENDOR, id.subsystemVendor ?? 0, true);
    v.setUint16(PCI_CFG.SUBSYSTEM, id.subsystem ?? 0, true);
    // Command: I/O, memory, bus master, parity, SERR, interrupt disable may be set.
    this.writable[PCI_CFG.COMMAND] = 0x47;
    this.writable[PCI_CFG.COMMAND + 1] = 0x05;
    this.writable[PCI_CFG.INTERRUPT_LINE] = 0xff; // scratch for the OS
  }

  /** Little-endian read of 1, 2 or 4 bytes; out-of-range bytes read as 0xff. */
  read(offset: number, size: number): number {
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + (offset + i < 256 ? this.bytes[offset + i]! : 0xff);
    return value >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size && offset + i < 256; i++) {
      const b = (value >>> (8 * i)) & 0xff;
      const m = this.writable[offset + i]!;
      this.bytes[offset + i] = (this.bytes[offset + i]! & ~m) | (b & m);
    }
    for (const l of this.writeListeners) l(offset, size);
  }

  addWriteListener(l: (offset: number, size: number) => void): void { this.writeListeners.push(l); }

  /** INTx pin: 1 = INTA# ... 4 = INTD#. */
  setInterruptPin(pin: number): void { this.bytes[PCI_CFG.INTERRUPT_PIN] = pin; }

  /**
   * A 64-bit memory BAR (index, index+1) of `size` bytes (a power of two). The OS
   * sizes it by writing all ones and reading back the mask, then assigns it.
   */
  addBar64(index: number, size: number, prefetchable: boolean): void {
    if (size < 16 || (size & (size - 1)) !== 0) throw new RangeError(`BAR size ${size}`);
    const flags = 0b0100 | (prefetchable ? 0b1000 : 0);
    const at = PCI_CFG.BAR0 + 4 * index;
    new DataView(this.bytes.buffer).setUint32(at, flags, true);
    const mask = new DataView(this.writable.buffer);
    mask.setUint32(at, (~(size - 1) & ~0xf) >>> 0, true);
    mask.setUint32(at + 4, 0xffffffff, true);
    this.bars.set(index, { size, flags });
  }

  /** Every BAR: index, size, kind, and its address (null while unassigned or decoding is off). */
  barList(): { index: number; size: number; prefetch: boolean; is64: boolean; address: number | null }[] {
    return [...this.bars].sort((a, b) => a[0] - b[0]).map(([index, b]) => ({
      index, size: b.size, prefetch: (b.flags & 0b1000) !== 0, is64: (b.flags & 0b0110) === 0b0100, address: this.barAddress(index),
    }));
  }

  /** The BAR's guest-physical address, or null while memory decoding is off or it is unassigned. */
  barAddress(index: number): number | null {
    if (!this.bars.has(index) || !(this.bytes[PCI_CFG.COMMAND]! & PCI_COMMAND_MEMORY)) return null;
    const v = new DataView(this.bytes.buffer);
    const at = PCI_CFG.BAR0 + 4 * index;
    const addr = v.getUint32(at + 4, true) * 2 ** 32 + ((v.getUint32(at, true) & ~0xf) >>> 0);
    return addr === 0 ? null : addr;
  }

  /** Append a capability (id, next pointer, then `body`); returns its offset. */
  addCapability(id: number, body: Uint8Array): number {
    const at = this.nextCap;
    const len = 2 + body.length;
    if (at + len > 256) throw new RangeError('PCI capabilities do not fit in 256 bytes');
    this.bytes[at] = id;
    this.bytes[at + 1] = 0;
    this.bytes.set(body, at + 2);
    if (this.lastCap < 0) this.bytes[PCI_CFG.CAPABILITIES] = at;
    else this.bytes[this.lastCap + 1] = at;
    this.bytes[PCI_CFG.STATUS] = this.bytes[PCI_CFG.STATUS]! | STATUS_CAP_LIST;
    this.lastCap = at;
    this.nextCap = (at + len + 3) & ~3;
    return at;
  }
}
