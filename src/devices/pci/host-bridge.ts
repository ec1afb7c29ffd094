/**
 * The PCI host bridge's configuration mechanism #1 on the main thread: the
 * data port 0xCFC-0xCFF for functions that exist. The 0xCF8 address latch
 * and accesses to absent functions never get here: the vCPU thread answers
 * them (kvm/pci-config-fastpath.ts), so this reads the latch it shares.
 */
import type { BusDevice } from '../bus.js';
import { PciConfigSpace } from './config-space.js';

/** The latch state a config access needs; the vCPU fast path owns the real one. */
export interface ConfigLatch {
  /** CF8 value (enable bit, bus, device, function, register), or null. */
  current(): number | null;
  /** Announce a function, so the fast path stops answering for it. */
  setPresent(bus: number, device: number, on: boolean): void;
}

export class PciHost implements BusDevice {
  readonly width = 4;
  private readonly functions = new Map<number, PciConfigSpace>(); // key: bus << 8 | device << 3 | function

  constructor(private readonly latch: ConfigLatch) {}

  add(device: number, fn: number, config: PciConfigSpace, bus = 0): void {
    const key = (bus << 8) | (device << 3) | fn;
    if (this.functions.has(key)) throw new Error(`PCI ${bus}:${device}.${fn} is taken`);
    this.functions.set(key, config);
    this.latch.setPresent(bus, device, true);
  }

  /** Take a function away (hot unplug): config accesses to it answer "absent" from now on. */
  remove(device: number, fn: number, bus = 0): boolean {
    const key = (bus << 8) | (device << 3) | fn;
    if (!this.functions.delete(key)) return false;
    const others = [...this.functions.keys()].some((k) => k >> 3 === key >> 3);
    if (!others) this.latch.setPresent(bus, device, false);
    return true;
  }

  /** Every function, by bus, device and function number (query-pci). */
  list(): { bus: number; device: number; fn: number; config: PciConfigSpace }[] {
    return [...this.functions].sort((a, b) => a[0] - b[0]).map(([key, config]) => ({ bus: key >> 8, device: (key >> 3) & 0x1f, fn: key & 7, config }));
  }

  private target(): { config: PciConfigSpace; reg: number } | null {
    const a = this.latch.current();
    if (a === null || !(a & 0x8000_0000)) return null;
    const config = this.functions.get((a >>> 8) & 0xffff);
    return config ? { config, reg: a & 0xfc } : null;
  }

  read(offset: number, size: number): number {
    const t = this.target();
    if (!t) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1; // absent function of a present device
    return t.config.read(t.reg + offset, size);
  }

  write(offset: number, size: number, value: number): void {
    const t = this.target();
    if (t) t.config.write(t.reg + offset, size, value);
  }
}

/** The i440FX host bridge at 00:00.0, as QEMU's pc machine has it (Linux wants a host bridge to trust mechanism #1). */
export function i440fxHostBridge(): PciConfigSpace {
  return new PciConfigSpace({ vendor: 0x8086, device: 0x1237, revision: 0x02, classCode: 0x060000, subsystemVendor: 0x1af4, subsystem: 0x1100 });
}
