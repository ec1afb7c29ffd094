/**
 * Hardware-reduced ACPI power registers (ACPI 6.x §4.8.3.7 / FADT
 * SLEEP_CONTROL_REG, SLEEP_STATUS_REG, RESET_REG), each one byte of port I/O.
 *
 * Sleep control: a write with SLP_EN (bit 5) enters sleep state SLP_TYP
 * (bits 2-4). The S5 type (from the DSDT's \_S5 package, chosen in
 * src/acpi) powers off. Other sleep states are not supported: the guest is
 * woken at once (WAK_STS set) so its "wait for WAK_STS" loop ends.
 *
 * Sleep status: WAK_STS (bit 7) reads 0 until such a wake; writing 1 clears it.
 *
 * Reset: writing the FADT RESET_VALUE resets the VM; other values are ignored.
 */

import type { AccessSize, BusDevice, IoBus } from './bus.js';

export const SLP_EN = 0x20;
export const SLP_TYP_SHIFT = 2;
export const SLP_TYP_MASK = 0x1c;
export const WAK_STS = 0x80;

export interface PowerOptions {
  sleepControlPort: number;
  sleepStatusPort: number;
  resetPort: number;
  /** FADT RESET_VALUE. */
  resetValue: number;
  /** SLP_TYP of S5 as given in \_S5 (0-7). */
  s5SlpTyp: number;
  onPoweroff: () => void;
  onReset: () => void;
  /** Sleep requests other than S5 (the guest is woken immediately). */
  onSleep?: (slpTyp: number) => void;
}

export class AcpiPower {
  private wakeStatus = false;
  private readonly opts: PowerOptions;

  readonly sleepControl: BusDevice;
  readonly sleepStatus: BusDevice;
  readonly reset: BusDevice;

  constructor(opts: PowerOptions) {
    if (!Number.isInteger(opts.s5SlpTyp) || opts.s5SlpTyp < 0 || opts.s5SlpTyp > 7) {
      throw new RangeError(`S5 SLP_TYP must be 0-7, got ${opts.s5SlpTyp}`);
    }
    const ports = [opts.sleepControlPort, opts.sleepStatusPort, opts.resetPort];
    if (new Set(ports).size !== ports.length) {
      throw new RangeError(`ACPI power ports must be distinct: ${ports.map((p) => '0x' + p.toString(16)).join(', ')}`);
    }
    this.opts = opts;
    this.sleepControl = {
      width: 1,
      read: () => 0, // write-only per spec; reading gives no state back
      write: (_o: number, _s: AccessSize, v: number) => this.writeSleepControl(v & 0xff),
    };
    this.sleepStatus = {
      width: 1,
      read: () => (this.wakeStatus ? WAK_STS : 0),
      write: (_o: number, _s: AccessSize, v: number) => {
        if (v & WAK_STS) this.wakeStatus = false; // write-1-to-clear
      },
    };
    this.reset = {
      width: 1,
      read: () => 0,
      write: (_o: number, _s: AccessSize, v: number) => {
        if ((v & 0xff) === (this.opts.resetValue & 0xff)) this.opts.onReset();
      },
    };
  }

  /** Register the three ports on the port-I/O bus. */
  attach(bus: IoBus): void {
    bus.register(this.opts.sleepControlPort, 1, this.sleepControl, 'acpi sleep control');
    bus.register(this.opts.sleepStatusPort, 1, this.sleepStatus, 'acpi sleep status');
    bus.register(this.opts.resetPort, 1, this.reset, 'acpi reset');
  }

  private writeSleepControl(v: number): void {
    if (!(v & SLP_EN)) return;
    const typ = (v & SLP_TYP_MASK) >> SLP_TYP_SHIFT;
    if (typ === this.opts.s5SlpTyp) {
      this.opts.onPoweroff();
      return;
    }
    this.opts.onSleep?.(typ);
    this.wakeStatus = true;
  }
}
