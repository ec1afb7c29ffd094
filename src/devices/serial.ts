/**
 * 16550A UART, enough for Linux's 8250 driver (autoconfig, console, tty).
 *
 * Transmit is instantaneous: a THR write calls `output(byte)` and the
 * transmitter is empty again before the access returns, so LSR.THRE and
 * LSR.TEMT always read 1.
 *
 * A break (receiveBreak) is a 0 byte whose LSR.BI shows while it is at the top of the FIFO.
 *
 * Receive never loses typed input: `receive()` takes only what fits in the
 * RX FIFO (16 bytes with FIFOs on, 1 byte in 16450 mode) and returns how
 * many bytes it took; the VMM keeps the rest and offers them again when
 * `onRxDrained` fires (the guest emptied the FIFO) or whenever
 * `rxSpace() > 0`. Only the guest itself can lose bytes, as on hardware:
 * by clearing the FIFO through FCR, or by looping back more than fits
 * (which sets LSR.OE).
 *
 * Interrupt line: `setIrq(level)` is called only when the level changes,
 * where level = (some enabled source pending) && MCR.OUT2 && !MCR.LOOP
 * (a PC gates the UART's INTR pin through OUT2, and loopback forces the OUT
 * pins inactive). The VMM drives an edge-triggered ISA IRQ, so a source that
 * becomes pending while the line is already high would be invisible to the
 * guest's interrupt controller. Rule: the level is evaluated once at the end
 * of every register access / receive(); if it stays high but a source that
 * was not pending before is pending now, the line is pulsed
 * (setIrq(false), setIrq(true)) to give the guest a fresh rising edge.
 * Re-raising a source that was pending before the access (e.g. THRE cleared
 * by a THR write and set again by the instant transmit) is not a new source,
 * so the tight transmit loop costs no extra KVM_IRQ_LINE calls; the guest's
 * handler re-reads IIR until it reports no interrupt, and sees it there.
 */

import type { AccessSize, BusDevice } from './bus.js';

export const COM1_BASE = 0x3f8;
export const COM1_IRQ = 4;
export const COM2_BASE = 0x2f8;
export const COM2_IRQ = 3;

// Register offsets.
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

// IER bits.
export const IER_RDI = 0x01;
export const IER_THRI = 0x02;
export const IER_RLSI = 0x04;
export const IER_MSI = 0x08;

// IIR values (low nibble) and FIFO-enabled marker.
export const IIR_NO_INT = 0x01;
export const IIR_MSI = 0x00;
export const IIR_THRI = 0x02;
export const IIR_RDI = 0x04;
export const IIR_RLSI = 0x06;
export const IIR_RX_TIMEOUT = 0x0c;
export const IIR_FIFO_ENABLED = 0xc0;

// FCR bits.
const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;

// LCR bits.
export const LCR_DLAB = 0x80;

// MCR bits.
export const MCR_DTR = 0x01;
export const MCR_RTS = 0x02;
export const MCR_OUT1 = 0x04;
export const MCR_OUT2 = 0x08;
export const MCR_LOOP = 0x10;

// LSR bits.
export const LSR_DR = 0x01;
export const LSR_OE = 0x02;
export const LSR_BI = 0x10;
export const LSR_THRE = 0x20;
export const LSR_TEMT = 0x40;

// MSR bits.
export const MSR_DCTS = 0x01;
export const MSR_DDSR = 0x02;
export const MSR_TERI = 0x04;
export const MSR_DDCD = 0x08;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;

/** 16550A receive FIFO depth. */
export const RX_FIFO_SIZE = 16;
const RX_TRIGGER = [1, 4, 8, 14] as const;

// Pending-source bits, for edge detection.
const SRC_LS = 1;
const SRC_RX = 2;
const SRC_THR = 4;
const SRC_MS = 8;

/** 1.8432 MHz crystal / 16. */
const BAUD_BASE = 115200;

export interface SerialOptions {
  /** A byte the guest transmitted. */
  output: (byte: number) => void;
  /** Interrupt line level; called only on changes (plus pulses, see file comment). */
  setIrq?: (level: boolean) => void;
  /** The guest emptied the RX FIFO; offer more input now (receive() may be called from here). */
  onRxDrained?: () => void;
  /** MSR status bits (CTS/DSR/RI/DCD) seen outside loopback. Default CTS|DSR|DCD: a cable is there. */
  modemInputs?: number;
}

export class Serial16550 implements BusDevice {
  readonly width = 1;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 12; // 9600 baud until the guest programs it
  private dlm = 0;
  private overrun = false;
  private msrDeltas = 0;
  private modemInputs: number;
  private fifoEnabled = false;
  private rxTrigger = 1;
  /** THRE interrupt armed (reported only while IER.THRI is set). */
  private thrPending = false;

  private readonly rx = new Uint8Array(RX_FIFO_SIZE);
  /** 1 where the byte in `rx` is a break's (a 0 received with LSR.BI). */
  private readonly rxBreak = new Uint8Array(RX_FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private lastRx = 0;

  private line = false;
  private lastSources = 0;

  private readonly output: (byte: number) => void;
  private readonly setIrq: (level: boolean) => void;
  private readonly onRxDrained: (() => void) | undefined;

  constructor(opts: SerialOptions) {
    this.output = opts.output;
    this.setIrq = opts.setIrq ?? (() => {});
    this.onRxDrained = opts.onRxDrained;
    this.modemInputs = (opts.modemInputs ?? MSR_CTS | MSR_DSR | MSR_DCD) & 0xf0;
  }

  // ---- VMM side ----------------------------------------------------------

  /** Bytes the RX FIFO can take right now. */
  rxSpace(): number {
    return this.rxCapacity() - this.rxCount;
  }

  canReceive(): boolean {
    return this.rxSpace() > 0;
  }

  /**
   * Queue host input for the guest. Takes at most `rxSpace()` bytes and
   * returns how many it took; the caller keeps the rest.
   */
  receive(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, this.rxSpace());
    for (let i = 0; i < n; i++) this.rxPush(bytes[i]!, false);
    if (n > 0) this.updateIrq();
    return n;
  }

  /**
   * A break on the line (Ctrl-A b, chardev-send-break): a 0 byte that reports LSR.BI
   * when it reaches the top of the FIFO, as a 16550A receives one. Linux's 8250 driver
   * counts it and, on the console, takes the next byte as a magic SysRq key. Returns
   * false when the FIFO is full (the caller offers it again, in order with its bytes).
   */
  receiveBreak(): boolean {
    if (this.rxSpace() === 0) return false;
    this.rxPush(0, true);
    this.updateIrq();
    return true;
  }

  /** Change the modem input lines (CTS/DSR/RI/DCD bits of MSR) as seen outside loopback. */
  setModemInputs(bits: number): void {
    const before = this.modemStatus();
    this.modemInputs = bits & 0xf0;
    this.noteModemChange(before);
    this.updateIrq();
  }

  /** Registers and interrupt state in one line (diagnostics). */
  describe(): string {
    const h = (n: number) => `0x${n.toString(16)}`;
    return `ier=${h(this.ier)} iir=${h(this.interruptId())} lsr=${h(this.lsr())} mcr=${h(this.mcr)} lcr=${h(this.lcr)} ` +
      `thre-pending=${this.thrPending} rx=${this.rxCount} line=${this.line ? 'high' : 'low'}`;
  }

  get irqLevel(): boolean {
    return this.line;
  }

  get divisor(): number {
    return (this.dlm << 8) | this.dll;
  }

  /** Programmed baud rate, 0 if the divisor is 0. */
  get baud(): number {
    return this.divisor === 0 ? 0 : BAUD_BASE / this.divisor;
  }

  // ---- guest side --------------------------------------------------------

  read(offset: number, _size: AccessSize): number {
    let value: number;
    let drained = false;
    switch (offset) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) {
          value = this.dll;
        } else {
          if (this.rxCount > 0) {
            this.lastRx = this.rxPop();
            drained = this.rxCount === 0;
          }
          value = this.lastRx; // an empty RBR keeps returning the last byte
        }
        break;
      case IER_DLM:
        value = this.lcr & LCR_DLAB ? this.dlm : this.ier;
        break;
      case IIR_FCR: {
        const id = this.interruptId();
        // Reading IIR acknowledges a THRE interrupt it reports.
        if (id === IIR_THRI) this.thrPending = false;
        value = id | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
        break;
      }
      case LCR:
        value = this.lcr;
        break;
      case MCR:
        value = this.mcr;
        break;
      case LSR:
        value = this.lsr();
        // Error bits clear on read; BI belongs to the byte at the top of the FIFO.
        this.overrun = false;
        if (value & LSR_BI) this.rxBreak[this.rxHead] = 0;
        break;
      case MSR:
        value = this.modemStatus() | this.msrDeltas;
        this.msrDeltas = 0;
        break;
      case SCR:
        value = this.scr;
        break;
      default:
        value = 0xff;
    }
    this.updateIrq();
    if (drained) this.onRxDrained?.();
    return value;
  }

  write(offset: number, _size: AccessSize, value: number): void {
    const v = value & 0xff;
    let drained = false;
    switch (offset) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) {
          this.dll = v;
        } else {
          this.transmit(v);
        }
        break;
      case IER_DLM:
        if (this.lcr & LCR_DLAB) {
          this.dlm = v;
        } else {
          const changed = (this.ier ^ v) & 0x0f;
          this.ier = v & 0x0f; // bits 4-7 read 0 on a 16550A (Linux probes them)
          // Enabling THRI while THR is empty raises THRE again even if an IIR
          // read acknowledged it before; Linux's startup THRE test and console
          // IER save/restore depend on it.
          if (changed & IER_THRI) this.thrPending = (this.ier & IER_THRI) !== 0;
        }
        break;
      case IIR_FCR:
        drained = this.writeFcr(v);
        break;
      case LCR:
        this.lcr = v;
        break;
      case MCR: {
        const before = this.modemStatus();
        this.mcr = v & 0x1f;
        this.noteModemChange(before);
        break;
      }
      case SCR:
        this.scr = v;
        break;
      default:
        break; // LSR and MSR writes are factory-test only; ignore
    }
    this.updateIrq();
    if (drained) this.onRxDrained?.();
  }

  // ---- internals ---------------------------------------------------------

  private transmit(byte: number): void {
    if (this.mcr & MCR_LOOP) {
      // Loopback: the byte comes straight back to our own receiver.
      if (this.rxCount < this.rxCapacity()) this.rxPush(byte, false);
      else this.overrun = true;
    } else {
      this.output(byte);
    }
    // Instant transmit: the holding register is empty again.
    this.thrPending = true;
  }

  /** Returns whether buffered RX data was discarded (so the VMM may refill). */
  private writeFcr(v: number): boolean {
    const enable = (v & FCR_ENABLE) !== 0;
    const hadData = this.rxCount > 0;
    if (enable !== this.fifoEnabled) {
      // Toggling FIFO mode resets both FIFOs.
      this.rxClear();
      this.fifoEnabled = enable;
    }
    // Other FCR bits are only programmed while FCR0 is set.
    if (enable) {
      if (v & FCR_CLEAR_RX) this.rxClear();
      this.rxTrigger = RX_TRIGGER[v >> 6]!;
    }
    return hadData && this.rxCount === 0;
  }

  private rxCapacity(): number {
    return this.fifoEnabled ? RX_FIFO_SIZE : 1;
  }

  private rxPush(b: number, isBreak: boolean): void {
    const at = (this.rxHead + this.rxCount) % RX_FIFO_SIZE;
    this.rx[at] = b;
    this.rxBreak[at] = isBreak ? 1 : 0;
    this.rxCount++;
  }

  private rxPop(): number {
    const b = this.rx[this.rxHead]!;
    this.rxHead = (this.rxHead + 1) % RX_FIFO_SIZE;
    this.rxCount--;
    return b;
  }

  private rxClear(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  private lsr(): number {
    return (this.rxCount > 0 ? LSR_DR : 0) | (this.overrun ? LSR_OE : 0) | (this.breakAtTop() ? LSR_BI : 0) | LSR_THRE | LSR_TEMT;
  }

  private breakAtTop(): boolean {
    return this.rxCount > 0 && this.rxBreak[this.rxHead] === 1;
  }

  /** CTS/DSR/RI/DCD as the guest sees them; loopback wires them to MCR outputs. */
  private modemStatus(): number {
    if (!(this.mcr & MCR_LOOP)) return this.modemInputs;
    const m = this.mcr;
    return (
      (m & MCR_RTS ? MSR_CTS : 0) |
      (m & MCR_DTR ? MSR_DSR : 0) |
      (m & MCR_OUT1 ? MSR_RI : 0) |
      (m & MCR_OUT2 ? MSR_DCD : 0)
    );
  }

  private noteModemChange(before: number): void {
    const after = this.modemStatus();
    const diff = before ^ after;
    if (diff & MSR_CTS) this.msrDeltas |= MSR_DCTS;
    if (diff & MSR_DSR) this.msrDeltas |= MSR_DDSR;
    if (before & MSR_RI && !(after & MSR_RI)) this.msrDeltas |= MSR_TERI; // trailing edge only
    if (diff & MSR_DCD) this.msrDeltas |= MSR_DDCD;
  }

  /** Enabled, pending sources as SRC_* bits. */
  private sources(): number {
    let s = 0;
    if (this.ier & IER_RLSI && (this.overrun || this.breakAtTop())) s |= SRC_LS;
    if (this.ier & IER_RDI && this.rxCount > 0) s |= SRC_RX;
    if (this.ier & IER_THRI && this.thrPending) s |= SRC_THR;
    if (this.ier & IER_MSI && this.msrDeltas) s |= SRC_MS;
    return s;
  }

  /** IIR bits 0-3: the highest-priority pending source. */
  private interruptId(): number {
    const s = this.sources();
    if (s & SRC_LS) return IIR_RLSI;
    if (s & SRC_RX) {
      // Below the trigger level the 16550A reports a character timeout; with
      // no real line timing we report it at once so short input is not delayed.
      return this.fifoEnabled && this.rxCount < this.rxTrigger ? IIR_RX_TIMEOUT : IIR_RDI;
    }
    if (s & SRC_THR) return IIR_THRI;
    if (s & SRC_MS) return IIR_MSI;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    const s = this.sources();
    const level = s !== 0 && (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    if (level !== this.line) {
      this.line = level;
      this.setIrq(level);
    } else if (level && s & ~this.lastSources) {
      // New source while the line is already high: give the edge-triggered
      // controller a fresh rising edge.
      this.setIrq(false);
      this.setIrq(true);
    }
    this.lastSources = s;
  }
}
