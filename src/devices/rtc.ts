/**
 * Minimal MC146818 CMOS RTC at 0x70 (index, bit 7 = NMI disable) / 0x71
 * (data), so the guest reads the right wall-clock time at boot.
 *
 * The clock is the host's UTC time plus an offset the guest can change by
 * writing the time registers (hwclock --systohc). Register B's DM and 24/12
 * bits are honoured on reads and writes; the default is BCD, 24-hour, which
 * is what Linux expects. Update-in-progress (A bit 7) always reads 0: the
 * time is computed on each read, so there is never a torn update to wait
 * out. Registers 0x0E-0x7F are plain battery-backed RAM.
 *
 * Interrupts (IRQ 8): the update-ended and alarm flags are set at each second
 * boundary of the guest's time while register B enables either one, and the
 * line is raised while an enabled flag is pending; reading register C clears
 * the flags and lowers it. Linux's RTC core builds its update and alarm
 * events on the alarm, so hwclock and rtcwake need it. Periodic interrupts
 * (PIE) are not emulated: their rates (up to 8 kHz) are beyond a timer here.
 */

import type { AccessSize, BusDevice } from './bus.js';

export const RTC_BASE = 0x70;
export const RTC_PORTS = 2;
export const RTC_IRQ = 8;

const SECONDS = 0x00;
const MINUTES = 0x02;
const HOURS = 0x04;
const DAY_OF_WEEK = 0x06;
const DAY_OF_MONTH = 0x07;
const MONTH = 0x08;
const YEAR = 0x09;
export const REG_A = 0x0a;
export const REG_B = 0x0b;
export const REG_C = 0x0c;
export const REG_D = 0x0d;
/** Century byte; the FADT CENTURY field should point here. */
export const CENTURY = 0x32;

const SECONDS_ALARM = 0x01;
const MINUTES_ALARM = 0x03;
const HOURS_ALARM = 0x05;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_AIE = 0x20;
const B_UIE = 0x10;
/** Register C: IRQF, then one flag per interrupt source at the same bit as its enable in B. */
const C_IRQF = 0x80;
const C_AF = 0x20;
const C_UF = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
const D_VRT = 0x80;
const HOUR_PM = 0x80;

export interface RtcTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface RtcOptions {
  /** Host clock in ms since the epoch; injectable for tests. */
  now?: () => number;
  /** IRQ 8; raised while an enabled interrupt flag is pending. */
  setIrq?: (level: boolean) => void;
  /** One-shot timers; injectable for tests. The default ones never keep the process alive. */
  timers?: RtcTimers;
}

const nodeTimers: RtcTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class CmosRtc implements BusDevice {
  readonly width = 1;

  private index = 0;
  private nmiDisabled = false;
  private readonly ram = new Uint8Array(128);
  private offsetMs = 0;
  private readonly now: () => number;
  private readonly setIrq: (level: boolean) => void;
  private readonly timers: RtcTimers;
  private flags = 0; // register C
  private tick: unknown = null; // pending timer for the next second boundary
  private closed = false;

  constructor(opts: RtcOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.setIrq = opts.setIrq ?? (() => {});
    this.timers = opts.timers ?? nodeTimers;
    this.ram[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.ram[REG_B] = B_24H; // BCD, 24-hour, no interrupts
  }

  /** Stop the timer (the machine is going away); no interrupt is raised after this. */
  close(): void {
    this.closed = true;
    this.schedule();
  }

  /** Interrupt state in one line (diagnostics). */
  describe(): string {
    return `b=0x${this.ram[REG_B]!.toString(16)} c=0x${this.flags.toString(16)} timer=${this.tick === null ? 'off' : 'armed'}`;
  }

  /** Whether the guest set the NMI-disable bit in the last index write. */
  get nmiMasked(): boolean {
    return this.nmiDisabled;
  }

  read(offset: number, _size: AccessSize): number {
    if (offset === 0) return 0xff; // the index port is write-only
    return this.readRegister(this.index);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    if (offset === 0) {
      this.index = value & 0x7f;
      this.nmiDisabled = (value & 0x80) !== 0;
    } else {
      this.writeRegister(this.index, value & 0xff);
    }
  }

  private time(): Date {
    return new Date(this.now() + this.offsetMs);
  }

  private readRegister(reg: number): number {
    const t = this.time();
    switch (reg) {
      case SECONDS:
        return this.encode(t.getUTCSeconds());
      case MINUTES:
        return this.encode(t.getUTCMinutes());
      case HOURS:
        return this.encodeHour(t.getUTCHours());
      case DAY_OF_WEEK:
        return this.encode(t.getUTCDay() + 1); // Sunday = 1
      case DAY_OF_MONTH:
        return this.encode(t.getUTCDate());
      case MONTH:
        return this.encode(t.getUTCMonth() + 1);
      case YEAR:
        return this.encode(t.getUTCFullYear() % 100);
      case CENTURY:
        return this.encode(Math.floor(t.getUTCFullYear() / 100));
      case REG_A:
        return this.ram[REG_A]! & ~A_UIP;
      case REG_C: {
        const c = this.flags;
        this.flags = 0;
        if (c & C_IRQF) this.setIrq(false);
        return c;
      }
      case REG_D:
        return D_VRT; // battery good, time valid
      default:
        return this.ram[reg]!; // alarms, register B, CMOS RAM
    }
  }

  private writeRegister(reg: number, v: number): void {
    switch (reg) {
      case SECONDS:
      case MINUTES:
      case HOURS:
      case DAY_OF_MONTH:
      case MONTH:
      case YEAR:
      case CENTURY:
        this.setField(reg, v);
        return;
      case DAY_OF_WEEK:
        return; // derived from the date
      case REG_A:
        this.ram[REG_A] = v & ~A_UIP;
        return;
      case REG_B:
        this.ram[REG_B] = v; // the SET bit is stored, not obeyed, except that it stops the interrupts
        this.updateIrq();
        this.schedule();
        return;
      case REG_C:
      case REG_D:
        return; // read-only
      default:
        this.ram[reg] = v; // alarms, RAM
    }
  }

  /** Keep one timer for the next second boundary of guest time while B enables an interrupt. */
  private schedule(): void {
    const want = !this.closed && (this.ram[REG_B]! & (B_AIE | B_UIE)) !== 0 && (this.ram[REG_B]! & B_SET) === 0;
    if (!want) {
      if (this.tick !== null) this.timers.clear(this.tick);
      this.tick = null;
      return;
    }
    if (this.tick !== null) return;
    // +1 ms: a timer may fire on the boundary's exact millisecond, while the clock still reads the old second.
    const ms = 1001 - ((((this.now() + this.offsetMs) % 1000) + 1000) % 1000);
    this.tick = this.timers.set(() => this.secondBoundary(), ms);
  }

  /** The clock just turned to a new second: an update ended, and the alarm may match. */
  private secondBoundary(): void {
    this.tick = null;
    this.flags |= C_UF;
    if (this.alarmMatches()) this.flags |= C_AF;
    this.updateIrq();
    this.schedule();
  }

  /** Each alarm byte matches its time byte, or is a don't-care (top two bits set). */
  private alarmMatches(): boolean {
    return ([[SECONDS_ALARM, SECONDS], [MINUTES_ALARM, MINUTES], [HOURS_ALARM, HOURS]] as const)
      .every(([alarm, time]) => (this.ram[alarm]! & 0xc0) === 0xc0 || this.ram[alarm] === this.readRegister(time));
  }

  private updateIrq(): void {
    if (this.flags & C_IRQF || !(this.flags & this.ram[REG_B]! & (B_AIE | B_UIE))) return;
    this.flags |= C_IRQF;
    this.setIrq(true);
  }

  /** Replace one field of the current guest time and keep the rest. */
  private setField(reg: number, raw: number): void {
    const t = this.time();
    let year = t.getUTCFullYear();
    let month = t.getUTCMonth();
    let day = t.getUTCDate();
    let hour = t.getUTCHours();
    let min = t.getUTCMinutes();
    let sec = t.getUTCSeconds();
    switch (reg) {
      case SECONDS:
        sec = this.decode(raw);
        break;
      case MINUTES:
        min = this.decode(raw);
        break;
      case HOURS:
        hour = this.decodeHour(raw);
        break;
      case DAY_OF_MONTH:
        day = this.decode(raw);
        break;
      case MONTH:
        month = this.decode(raw) - 1;
        break;
      case YEAR:
        year = year - (year % 100) + this.decode(raw);
        break;
      case CENTURY:
        year = this.decode(raw) * 100 + (year % 100);
        break;
    }
    const target = Date.UTC(year, month, day, hour, min, sec, t.getUTCMilliseconds());
    if (Number.isFinite(target)) this.offsetMs = target - this.now();
  }

  private get binary(): boolean {
    return (this.ram[REG_B]! & B_DM_BINARY) !== 0;
  }

  private encode(n: number): number {
    return this.binary ? n : toBcd(n);
  }

  private decode(v: number): number {
    return this.binary ? v : fromBcd(v);
  }

  private encodeHour(h: number): number {
    if (this.ram[REG_B]! & B_24H) return this.encode(h);
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.encode(h12) | (h >= 12 ? HOUR_PM : 0);
  }

  private decodeHour(v: number): number {
    if (this.ram[REG_B]! & B_24H) return this.decode(v);
    const h12 = this.decode(v & ~HOUR_PM) % 12;
    return v & HOUR_PM ? h12 + 12 : h12;
  }
}

export function toBcd(n: number): number {
  return (Math.floor(n / 10) % 10) * 16 + (n % 10);
}

export function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0x0f);
}
