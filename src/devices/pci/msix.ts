/**
 * MSI-X (PCI Local Bus 3.0, 6.8.2): the capability, the vector table and the
 * pending-bit array. The table lives in an Int32Array that may sit in a
 * SharedArrayBuffer, so a device thread can deliver interrupts itself; every
 * method here expects the caller to hold the device's lock.
 *
 * Table entry (16 bytes): message address low, high, data, vector control
 * (bit 0 = masked). A masked vector's message is held as a pending bit and
 * sent when it is unmasked, as the spec requires.
 */
import type { IrqSink } from '../irq-sink.js';
import type { MsiMessage } from '../../kvm/irq-routes.js';

export const PCI_CAP_ID_MSIX = 0x11;
export const MSIX_ENTRY_BYTES = 16;
const ADDR_LO = 0, ADDR_HI = 1, DATA = 2, CTRL = 3, PENDING = 4;
/** Int32 words per vector in the shared array. */
export const MSIX_WORDS_PER_VECTOR = 5;
/** Int32 words for the whole state: control, then the vectors. */
export const msixWords = (vectors: number) => 1 + MSIX_WORDS_PER_VECTOR * vectors;
const CONTROL_ENABLE = 1, CONTROL_FUNCTION_MASK = 2;
const VECTOR_MASKED = 1;

/**
 * The capability body after its id and next bytes: message control (table
 * size - 1; the enable and function-mask bits are written by the OS), then
 * table and PBA offsets, each ORed with its BAR index.
 */
export function msixCapability(vectors: number, bar: number, tableOffset: number, pbaOffset: number): Uint8Array {
  const body = new Uint8Array(10), v = new DataView(body.buffer);
  v.setUint16(0, vectors - 1, true);
  v.setUint32(2, tableOffset | bar, true);
  v.setUint32(6, pbaOffset | bar, true);
  return body;
}
/** Message control's high byte: bit 15 enable, bit 14 function mask. */
export const MSIX_CONTROL_WRITABLE_HIGH_BYTE = 0xc0;

export class MsixVectors {
  constructor(private readonly words: Int32Array, readonly count: number) {
    if (words.length < msixWords(count)) throw new RangeError('MSI-X state array too small');
  }

  /** Power-on state: disabled, every vector masked. */
  reset(): void {
    this.words.fill(0);
    for (let v = 0; v < this.count; v++) this.words[this.at(v) + CTRL] = VECTOR_MASKED;
  }

  private at(v: number): number { return 1 + MSIX_WORDS_PER_VECTOR * v; }

  get enabled(): boolean { return (this.words[0]! & CONTROL_ENABLE) !== 0; }

  /** The OS wrote message control (bits 15 and 14); unmasking may release pending messages. */
  setControl(messageControl: number, sink: IrqSink): void {
    this.words[0] = ((messageControl & 0x8000) ? CONTROL_ENABLE : 0) | ((messageControl & 0x4000) ? CONTROL_FUNCTION_MASK : 0);
    this.releasePending(sink);
  }

  /**
   * Send vector `v`'s message, or hold it as pending while it is masked.
   * Returns false when MSI-X is off (the caller falls back to INTx).
   */
  fire(v: number, sink: IrqSink): boolean {
    if (!this.enabled) return false;
    if (v < 0 || v >= this.count) return true; // no vector assigned: no interrupt
    const at = this.at(v);
    if (this.masked(v)) this.words[at + PENDING] = 1;
    else this.send(at, sink);
    return true;
  }

  /**
   * Vector `v`'s message if firing it now would send it (MSI-X on, the vector assigned and
   * unmasked), else null. The same object comes back while the entry's words are unchanged
   * (compared as they are stored: small integers), so a caller may tell "unchanged" by identity,
   * and a flush makes no message object.
   */
  deliverable(v: number): MsiMessage | null {
    if (!this.enabled || v < 0 || v >= this.count || this.masked(v)) return null;
    const at = this.at(v), w = this.words;
    const lo = w[at + ADDR_LO]!, hi = w[at + ADDR_HI]!, data = w[at + DATA]!;
    const last = this.delivered[v];
    if (last && last.lo === lo && last.hi === hi && last.data === data) return last.msg;
    const msg: MsiMessage = { addressLo: lo >>> 0, addressHi: hi >>> 0, data: data >>> 0 };
    this.delivered[v] = { lo, hi, data, msg };
    return msg;
  }
  /** deliverable()'s last answer for each vector, with the words it was made from. */
  private readonly delivered: ({ lo: number; hi: number; data: number; msg: MsiMessage } | undefined)[] = [];

  private send(at: number, sink: IrqSink): void {
    sink.signalMsi(this.words[at + ADDR_LO]! >>> 0, this.words[at + ADDR_HI]! >>> 0, this.words[at + DATA]! >>> 0);
  }

  private masked(v: number): boolean {
    return (this.words[0]! & CONTROL_FUNCTION_MASK) !== 0 || (this.words[this.at(v) + CTRL]! & VECTOR_MASKED) !== 0;
  }

  private releasePending(sink: IrqSink): void {
    if (!this.enabled) return;
    for (let v = 0; v < this.count; v++) {
      const at = this.at(v);
      if (this.words[at + PENDING] && !this.masked(v)) {
        this.words[at + PENDING] = 0;
        this.send(at, sink);
      }
    }
  }

  /** A 4-byte read of the table at byte `offset`. */
  readTable(offset: number): number {
    const v = Math.floor(offset / MSIX_ENTRY_BYTES), word = (offset % MSIX_ENTRY_BYTES) >> 2;
    if (v >= this.count) return 0;
    return this.words[this.at(v) + word]! >>> 0;
  }

  /** A 4-byte write to the table at byte `offset`. */
  writeTable(offset: number, value: number, sink: IrqSink): void {
    const v = Math.floor(offset / MSIX_ENTRY_BYTES), word = (offset % MSIX_ENTRY_BYTES) >> 2;
    if (v >= this.count) return;
    const at = this.at(v);
    if (word === CTRL) {
      this.words[at + CTRL] = value & VECTOR_MASKED; // the other bits are reserved
      this.releasePending(sink);
    } else {
      this.words[at + word] = value | 0;
    }
  }

  /** A 4-byte read of the pending-bit array at byte `offset`. */
  readPba(offset: number): number {
    let bits = 0;
    for (let i = 0; i < 32; i++) {
      const v = offset * 8 + i;
      if (v < this.count && this.words[this.at(v) + PENDING]) bits |= 1 << i;
    }
    return bits >>> 0;
  }
}
