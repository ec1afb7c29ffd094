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
  HEADER_TYPE: 0x0e, SUBSYSTEM_VENDOR: 0x2c, SUBSYSTEM: 0x2e, INTERRUPT_LINE: 0x3c, INTERRUPT_PIN: 0x3d,
} as const;

export class PciConfigSpace {
  readonly bytes = new Uint8Array(256);
  /** 1 bits: writable by the guest. */
  readonly writable = new Uint8Array(256);

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
  }
}
