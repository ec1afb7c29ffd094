/**
 * The pc machine's hot-pluggable device-memory region (-m RAM,slots=N,maxmem=M):
 * where pc-dimm and nvdimm devices land in guest-physical space, and which
 * ACPI slot each one takes. Messages follow QEMU 7.2 word for word where it
 * has one (hw/mem/pc-dimm.c, hw/mem/memory-device.c), with a fix appended.
 */
import { UserError } from '../errors.js';
import { splitRam, FOUR_GIB } from '../boot/layout.js';

const GIB = 1 << 30;
const ACPI_MAX_RAM_SLOTS = 256; // the DSDT's memory hotplug device has 256 slots

export interface DeviceMemoryRegion {
  base: number;
  size: number;   // address space, including the per-slot alignment slack
  limit: number;  // bytes all memory devices together may use: maxmem - ram
}

/**
 * QEMU 7.2 pc (hw/i386/pc.c, pc_memory_init): base = ROUND_UP(4 GiB + RAM
 * above 4 GiB, 1 GiB); size = maxmem - ram, plus 1 GiB per slot because
 * enforce_aligned_dimm is set on every pc-i440fx/q35 machine type since 2.2
 * ("size device region assuming 1G page max alignment per slot"). Checked
 * against qemu-system-x86_64 7.2: -m 512M,slots=4,maxmem=8G reports the
 * usable range as [0x100000000:0x2e0000000], i.e. 7.5 GiB + 4 GiB.
 * The total that devices may use stays maxmem - ram ("not enough space").
 * (QEMU 7.1+ moves RAM above 4 GiB to 1 TiB on AMD hosts with ~1 TiB of RAM;
 * pmemvm does not.)
 */
export function deviceMemoryRegion(ramSize: number, maxmem: number, slots: number): DeviceMemoryRegion {
  if (maxmem < ramSize) {
    throw new UserError(`invalid value of maxmem: maximum memory size (0x${hex(maxmem)}) must be at least the initial memory size (0x${hex(ramSize)})`);
  }
  if (slots > ACPI_MAX_RAM_SLOTS) throw new UserError(`unsupported amount of memory slots: ${slots}; the most is ${ACPI_MAX_RAM_SLOTS}`);
  if (slots > 0 && maxmem === ramSize) {
    throw new UserError(`invalid value of maxmem: memory slots were specified but maximum memory size (0x${hex(maxmem)}) is equal to the initial memory size (0x${hex(ramSize)}); raise maxmem`);
  }
  const { high } = splitRam(ramSize);
  const base = roundUp(FOUR_GIB + high, GIB);
  // maxmem without slots still makes a region: virtio-pmem takes no slot (QEMU 7.2 likewise).
  if (maxmem === ramSize) return { base, size: 0, limit: 0 };
  const limit = maxmem - ramSize;
  return { base, size: limit + slots * GIB, limit };
}

export interface Placement { id: string; addr: number; size: number; slot: number }

export interface DeviceMemoryPlan {
  base: number;
  size: number;
  limit: number;
  slots: number;
  used: number;
  devices: Placement[]; // in address order
}

export interface AllocateRequest {
  id: string;
  /** false: a device without an ACPI memory slot (virtio-pmem); default true. */
  needsSlot?: boolean;
  size: number;
  align: number;
  addr?: number;
  slot?: number;
  /** Placement alignment when larger than `align` (pmemvm asks 2 MiB: see memory-devices.ts). */
  addrAlign?: number;
}

export class DeviceMemory {
  readonly base: number;
  readonly size: number;
  readonly slots: number;
  readonly limit: number;
  private devices: Placement[] = []; // kept in address order

  constructor(opts: { base: number; size: number; slots: number; limit?: number }) {
    this.base = opts.base;
    this.size = opts.size;
    this.slots = opts.slots;
    this.limit = opts.limit ?? opts.size;
  }

  plan(): DeviceMemoryPlan {
    return {
      base: this.base, size: this.size, limit: this.limit, slots: this.slots,
      used: this.used(), devices: this.devices.map((d) => ({ ...d })),
    };
  }

  used(): number { return this.devices.reduce((n, d) => n + d.size, 0); }

  /** Place a device; checks in QEMU's order: slots, slot, space, address. */
  allocate(req: AllocateRequest): { addr: number; slot: number } {
    const { id, size, align } = req;
    // The backend chose align: a bad one is pmemvm's bug, not the user's.
    if (!isPowerOfTwo(align)) throw new Error(`memory device '${id}': alignment ${align} is not a power of two`);
    const needsSlot = req.needsSlot ?? true;
    if (needsSlot && this.slots === 0) throw new UserError(`memory device '${id}': no slots where allocated, please specify the 'slots' option (e.g. -m 512M,slots=2,maxmem=8G)`);
    if (this.devices.some((d) => d.id === id)) throw new UserError(`Duplicate ID '${id}' for device; give each device its own id=`);
    const slot = needsSlot ? this.pickSlot(id, req.slot) : -1;

    if (!Number.isSafeInteger(size) || size <= 0) throw new UserError(`memory device '${id}': size ${size} is invalid`);
    const used = this.used();
    if (used + size > this.limit) {
      throw new UserError(`memory device '${id}': not enough space, currently 0x${hex(used)} in use of total space for memory devices 0x${hex(this.limit)}; raise maxmem= in -m`);
    }
    if (size % align !== 0) {
      throw new UserError(`memory device '${id}': backend memory size must be multiple of 0x${hex(align)}; give the backend a size that is`);
    }
    const place = Math.max(align, req.addrAlign ?? 0);
    if (!isPowerOfTwo(place)) throw new Error(`memory device '${id}': alignment ${place} is not a power of two`);
    const addr = req.addr === undefined ? this.firstFit(id, size, place) : this.checkAddr(id, req.addr, size, place);

    const placed = { id, addr, size, slot };
    this.devices.push(placed);
    this.devices.sort((a, b) => a.addr - b.addr);
    return { addr, slot };
  }

  release(id: string): boolean {
    const before = this.devices.length;
    this.devices = this.devices.filter((d) => d.id !== id);
    return this.devices.length !== before;
  }

  private pickSlot(id: string, wanted: number | undefined): number {
    const busy = new Set(this.devices.map((d) => d.slot).filter((s) => s >= 0));
    if (wanted !== undefined) {
      if (!Number.isInteger(wanted) || wanted < 0 || wanted >= this.slots) {
        throw new UserError(`memory device '${id}': invalid slot number ${wanted}, valid range is [0-${this.slots - 1}]`);
      }
      if (busy.has(wanted)) throw new UserError(`memory device '${id}': slot ${wanted} is busy; pick a free slot= or leave it out`);
      return wanted;
    }
    for (let s = 0; s < this.slots; s++) if (!busy.has(s)) return s;
    throw new UserError(`memory device '${id}': no free slots available; raise slots= in -m (now ${this.slots})`);
  }

  private checkAddr(id: string, addr: number, size: number, align: number): number {
    if (!Number.isSafeInteger(addr) || addr % align !== 0) {
      throw new UserError(`memory device '${id}': address must be aligned to 0x${hex(align)} bytes`);
    }
    // QEMU prints both ranges as [start:size].
    if (addr < this.base || addr + size > this.base + this.size) {
      throw new UserError(`memory device '${id}': can't add memory device [0x${hex(addr)}:0x${hex(size)}], usable range for memory devices [0x${hex(this.base)}:0x${hex(this.size)}]`);
    }
    const clash = this.devices.find((d) => addr < d.addr + d.size && d.addr < addr + size);
    if (clash) throw new UserError(`memory device '${id}': address range conflicts with memory device id='${clash.id}'`);
    return addr;
  }

  /** The lowest aligned address where the device fits between the others. */
  private firstFit(id: string, size: number, align: number): number {
    const end = this.base + this.size;
    let candidate = roundUp(this.base, align);
    for (const d of this.devices) {
      if (candidate + size <= d.addr) break;
      candidate = Math.max(candidate, roundUp(d.addr + d.size, align));
    }
    if (candidate + size > end) {
      throw new UserError(`memory device '${id}': could not find position in guest address space for memory device - memory fragmented due to alignments; give it an addr= or raise maxmem`);
    }
    return candidate;
  }
}

function isPowerOfTwo(n: number): boolean { return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n; }
function roundUp(x: number, a: number): number { return Math.ceil(x / a) * a; }
function hex(n: number): string { return n.toString(16); }
