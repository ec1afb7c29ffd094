/**
 * Minimal MC146818 CMOS RTC at 0x70 (index, bit 7 = NMI disable) / 0x71
 * (data), so the guest reads the right wall-clock time at boot.
 *
 * The clock is the host's UTC time plus an offset the guest can change by
 * writing the time registers (hwclock --systohc). Register B's DM and 24/12
 * bits are honoured on reads and writes; the default is BCD, 24-hour, which
 * is what Linux expects. Update-in-progress (A bit 7) always reads 0: the
 * time is computed on each read, so there is never a torn update to wait
 * out. No alarm, periodic or update interrupts (IRQ 8 is never raised).
 * Registers 0x0E-0x7F are plain battery-backed RAM.
 */

import type { AccessSize, BusDevice } from './bus.js';

export const RTC_BASE = 0x70;
export const RTC_PORTS = 2;

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

const A_UIP = 0x80;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
const D_VRT = 0x80;
const HOUR_PM = 0x80;

export interface RtcOptions {
  /** Host clock in ms since the epoch; injectable for tests. */
  now?: () => number;
}

export class CmosRtc implements BusDevice {
  readonly width = 1;

  private index = 0;
  private nmiDisabled = false;
  private readonly ram = new Uint8Array(128);
  private offsetMs = 0;
  private readonly now: () => number;

  constructor(opts: RtcOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ram[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.ram[REG_B] = B_24H; // BCD, 24-hour, no interrupts
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
      case REG_C:
        return 0; // no interrupt flags ever raised
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
      case REG_C:
      case REG_D:
        return; // read-only
      default:
        this.ram[reg] = v; // register B (the SET bit is stored, not obeyed), alarms, RAM
    }
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
