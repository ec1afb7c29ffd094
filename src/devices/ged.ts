/**
 * The ACPI Generic Event Device's register (see src/acpi/ged.ts for the AML
 * and the choice of address and interrupt): one 32-bit event selector, ESEL,
 * on the MMIO bus.
 *
 * - `trigger(bits)` ORs the bits into ESEL and pulses the interrupt line (the
 *   _CRS declares it edge-triggered, active-high): the guest's _EVT runs.
 * - A 4-byte read at offset 0 returns ESEL and clears it, as QEMU's GED does:
 *   each event is handled once, and bits set between two reads accumulate.
 *   Other reads return 0 and change nothing (the AML only does 4-byte
 *   accesses, DWordAcc); writes are ignored.
 */

import type { AccessSize, BusDevice } from './bus.js';

export interface GedDeviceOptions {
  /** ESEL bits the AML handles (gedEventMask of its events); trigger() refuses others. */
  supported: number;
  /** Drive the interrupt line; called with true then false for each trigger. */
  setIrq: (level: boolean) => void;
}

export class GenericEventDevice implements BusDevice {
  private sel = 0;
  private triggers = 0;
  private reads = 0;

  constructor(private readonly opts: GedDeviceOptions) {}

  /** Raise the events in `bits` (a mask of supported ESEL bits). */
  trigger(bits: number): void {
    if (!Number.isInteger(bits) || bits <= 0 || bits > 0xffffffff) throw new RangeError(`GED: bad event mask ${bits}`);
    const unknown = (bits & ~this.opts.supported) >>> 0;
    if (unknown) throw new RangeError(`GED: event 0x${unknown.toString(16)} has no handler in the guest's _EVT`);
    this.sel = (this.sel | bits) >>> 0;
    this.triggers++;
    this.opts.setIrq(true);
    this.opts.setIrq(false);
  }

  /** Events raised and not yet read by the guest. */
  get pending(): number {
    return this.sel;
  }

  read(offset: number, size: AccessSize): number {
    if (offset !== 0 || size !== 4) return 0;
    const v = this.sel;
    this.sel = 0;
    this.reads++;
    return v;
  }

  write(): void {
    // ESEL is read-only; the AML's field is WriteAsZeros and never written.
  }

  /** One line for a person chasing a lost event. */
  describe(): string {
    return `pending 0x${this.sel.toString(16)}, ${this.triggers} triggers, ${this.reads} ESEL reads`;
  }
}
