/**
 * The ACPI PCI hotplug register block of bus 0 (the AML that drives it is in
 * src/acpi/pci-hotplug.ts), on the PIO bus at PCIHP_IO_BASE. QEMU 7.2's
 * layout and behaviour (hw/acpi/pcihp.c), all registers 32-bit:
 *
 *   0x00 up (PCIU)       slots plugged since the last read; a read clears it
 *   0x04 down (PCID)     slots the host asked to remove; stays set until ejected
 *   0x08 eject (B0EJ)    the guest writes a slot's bit when it let go of it
 *   0x0c hotplug enable  the hotpluggable slots (read-only)
 *   0x10 bus select      read/write; only bus 0 (the default) has slots
 *   0x14 acpi-index      reads 0: no device here has one
 *
 * The host side: `plug(slot)` / `requestUnplug(slot)` set a bit; the caller
 * then raises the GED's PCI-hotplug event so the guest runs PCNT. An eject
 * write takes a slot out (`onEject`) only while its unplug request is pending:
 * QEMU removes whatever hotpluggable device sits in any slot the guest names,
 * so a guest could pull a device the host never asked to remove; here such a
 * write is ignored and counted.
 */

import type { AccessSize, BusDevice } from './bus.js';
import { PCIHP_REG } from '../acpi/pci-hotplug.js';

export interface PciHotplugOptions {
  /** The slots the AML declares hotpluggable (1..31). */
  slots: readonly number[];
  /** The guest ejected `slot` after the host asked for it: remove its device now. */
  onEject: (slot: number) => void;
  /** An eject write for a slot with no pending request (a confused or hostile guest). */
  onRefusedEject?: (slot: number) => void;
}

export class PciHotplugRegisters implements BusDevice {
  /** Bit n: slot n. */
  private up = 0;
  private down = 0;
  private busSelect = 0;
  private readonly enabled: number;
  private ejects = 0;
  private refused = 0;

  constructor(private readonly opts: PciHotplugOptions) {
    let mask = 0;
    for (const s of opts.slots) {
      if (!Number.isInteger(s) || s < 1 || s > 31) throw new RangeError(`PCI hotplug: slot ${s} is not 1..31`);
      mask |= 1 << s;
    }
    this.enabled = mask >>> 0;
  }

  /** Whether the guest's ACPI tables let `slot` take and give up devices. */
  hotpluggable(slot: number): boolean {
    return Number.isInteger(slot) && slot >= 0 && slot <= 31 && (this.enabled & (1 << slot)) !== 0;
  }

  /** A device was plugged into `slot`: the guest's next PCNT sends it a device check. */
  plug(slot: number): void {
    this.up = (this.up | this.bit(slot)) >>> 0;
  }

  /** Ask the guest to release `slot`: its PCNT sends an eject request until it writes B0EJ. */
  requestUnplug(slot: number): void {
    this.down = (this.down | this.bit(slot)) >>> 0;
  }

  /** Whether an unplug request for `slot` waits for the guest (a reset would complete it). */
  unplugPending(slot: number): boolean {
    return (this.down & this.bit(slot)) !== 0;
  }

  /** Slots with an unplug request the guest has not answered, lowest first. */
  pendingUnplugs(): number[] {
    return slotsOf(this.down);
  }

  read(offset: number, size: AccessSize): number {
    // QEMU takes only aligned 4-byte accesses; the AML makes no others.
    if (size !== 4) return 0;
    if (offset === PCIHP_REG.BUS_SELECT) return this.busSelect;
    if (this.busSelect !== 0) return 0; // a bus with no hotplug slots
    switch (offset) {
      case PCIHP_REG.UP: {
        const v = this.up;
        this.up = 0;
        return v;
      }
      case PCIHP_REG.DOWN: return this.down;
      case PCIHP_REG.HOTPLUG_ENABLE: return this.enabled;
      default: return 0; // eject reads 0 (QEMU: "no feature defined"), no acpi-index
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4) return;
    if (offset === PCIHP_REG.BUS_SELECT) {
      this.busSelect = value >>> 0;
      return;
    }
    if (offset !== PCIHP_REG.EJECT || this.busSelect !== 0) return;
    for (const slot of slotsOf(value >>> 0)) {
      const bit = 1 << slot;
      if (!(this.down & bit)) {
        this.refused++;
        this.opts.onRefusedEject?.(slot);
        continue;
      }
      this.down = (this.down & ~bit) >>> 0;
      this.up = (this.up & ~bit) >>> 0;
      this.ejects++;
      this.opts.onEject(slot);
    }
  }

  /** One line for the state dump. */
  describe(): string {
    return `up 0x${this.up.toString(16)}, down 0x${this.down.toString(16)}, ${this.ejects} ejects, ${this.refused} refused ejects`;
  }

  private bit(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot > 31 || !(this.enabled & (1 << slot))) {
      throw new RangeError(`PCI hotplug: slot ${slot} is not a hotpluggable slot of bus 0`);
    }
    return (1 << slot) >>> 0;
  }
}

function slotsOf(mask: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < 32; s++) if (mask & (1 << s)) out.push(s);
  return out;
}
