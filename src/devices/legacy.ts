/**
 * Legacy PC ports Linux pokes at boot that this machine does not implement.
 * Mapping them to `AbsentDevice` keeps them reading as "nothing here"
 * (all-ones, like a floating ISA bus) without tripping the bus's unmapped
 * counters and debug hooks, which are then left for genuine surprises.
 */

import type { AccessSize, BusDevice, IoBus } from './bus.js';

/** Reads all-ones, ignores writes. */
export class AbsentDevice implements BusDevice {
  read(_offset: number, size: AccessSize): number {
    return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
  }
  write(_offset: number, _size: AccessSize, _value: number): void {}
}

export interface PortRange {
  readonly base: number;
  readonly len: number;
  readonly name: string;
}

/**
 * Ports probed by a Linux 6.1 x86 guest that should look absent. Ports KVM
 * handles in the kernel (PIC 0x20/0xA0/0x4D0, PIT 0x40 and 0x61 when an
 * in-kernel PIT exists) never exit to us and are not listed. 0xCF8/0xCFC are
 * not listed either: whoever owns PCI decides what they answer.
 */
export const QUIET_LEGACY_PORTS: readonly PortRange[] = [
  { base: 0x87, len: 1, name: 'DMA page register' },
  { base: 0xed, len: 1, name: 'alternate io_delay port' },
  { base: 0x2e8, len: 8, name: 'COM4' },
  { base: 0x2f8, len: 8, name: 'COM2' },
  { base: 0x3e8, len: 8, name: 'COM3' },
  { base: 0x378, len: 3, name: 'LPT1' },
  { base: 0x278, len: 3, name: 'LPT2' },
  { base: 0x3bc, len: 3, name: 'LPT0' },
  { base: 0x3c0, len: 0x20, name: 'VGA' },
  { base: 0x1f0, len: 8, name: 'IDE primary' },
  { base: 0x3f6, len: 1, name: 'IDE primary control' },
  { base: 0x170, len: 8, name: 'IDE secondary' },
  { base: 0x376, len: 1, name: 'IDE secondary control' },
];

/**
 * Map each range of `ports` (default QUIET_LEGACY_PORTS) that is still free
 * to one shared AbsentDevice; ranges someone else already owns are skipped.
 */
export function attachQuietPorts(bus: IoBus, ports: readonly PortRange[] = QUIET_LEGACY_PORTS): void {
  const absent = new AbsentDevice();
  for (const p of ports) {
    let free = true;
    for (let a = p.base; a < p.base + p.len && free; a++) free = bus.find(a) === undefined;
    if (free) bus.register(p.base, p.len, absent, `absent ${p.name}`);
  }
}

export const SYSTEM_CONTROL_PORT_B = 0x61;

/**
 * Port 0x61 (system control port B) for VMs without KVM's in-kernel PIT.
 * Bits 0-3 are writable (speaker gate/data, parity/IOCHK enables). Bit 4
 * (refresh) toggles on every read and bit 5 (PIT channel 2 output) reads 1,
 * so Linux loops waiting on either end at once. Bits 6-7 (IOCHK, SERR)
 * read 0: an NMI never came from here.
 */
export class SystemControlPortB implements BusDevice {
  readonly width = 1;
  private latch = 0;
  private refresh = 0;

  read(_offset: number, _size: AccessSize): number {
    this.refresh ^= 0x10;
    return (this.latch & 0x0f) | this.refresh | 0x20;
  }

  write(_offset: number, _size: AccessSize, value: number): void {
    this.latch = value & 0x0f;
  }
}
