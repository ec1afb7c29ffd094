/**
 * The machine's memory devices: their backends, opened once per pmemvm run
 * (they outlive guest reboots), and where each device lands in the
 * device-memory region above RAM.
 *
 * Everything a user's files or numbers can refuse is checked here, before
 * any vCPU runs. On an error every backend is unmapped, every file pmemvm
 * created for this run is removed, and no byte of an existing file has been
 * written.
 */
import * as fs from 'node:fs';
import { UserError } from '../errors.js';
import { openBackend, type BackendSpec, type MemoryBackend, type OpenOptions } from '../memory/backend.js';
import { DeviceMemory, deviceMemoryRegion, type DeviceMemoryRegion } from '../memory/device-memory.js';
import { decodeLabelArea } from '../devices/nvdimm-labels.js';
import type { VirtioPmemPlacement } from './virtio-pmem.js';
import { formatDurability, type DurabilityReport, type FlushHintFacts } from '../memory/durability.js';
import { FlushHintTable } from '../kvm/flush-hints.js';
import * as libc from '../sys/libc.js';

/**
 * Memory devices start on 2 MiB boundaries. QEMU aligns them only to their
 * backend (4K for a file), so a device that follows one whose size is not a
 * 2M multiple (an NVDIMM with a label area: 1G - 128K) starts misaligned and
 * Linux refuses it ("misaligned, unable to map"). For the first device, and
 * whenever sizes are 2M multiples, the addresses are QEMU's.
 */
const PLACEMENT_ALIGN = 2 << 20;

export interface NvdimmConfig {
  /** -device id=; undefined: QEMU allows unnamed devices. */
  id?: string;
  memdev: string;
  /** Label area at the end of the backend, bytes; 0: no labels. */
  labelSize: number;
  unarmed: boolean;
  /** Take label-size even though the label area holds unknown data. */
  labelOverwrite?: boolean;
  slot?: number;
  addr?: number;
  /** An NFIT flush hint: each guest flush of the DIMM is an fdatasync of its backend. */
  flushHint?: boolean;
}

export interface VirtioPmemConfig {
  id?: string;
  memdev: string;
  /** PCI slot on bus 0; undefined: the first free one from 2. */
  pciSlot?: number;
}

export interface MemoryDevicesConfig {
  ramSize: number;
  /** -m slots= and maxmem= (maxmem undefined: no device memory). */
  slots: number;
  maxmem?: number;
  backends: readonly BackendSpec[];
  nvdimms: readonly NvdimmConfig[];
  virtioPmems?: readonly VirtioPmemConfig[];
}

/** An NVDIMM as the guest sees it. */
export interface Nvdimm {
  /** The device id (-device id=), if it has one. */
  id?: string;
  /** The device id, or a generated name for messages when it has none. */
  name: string;
  slot: number;
  /** Guest-physical address and size of the persistent memory (label area excluded). */
  addr: number;
  size: number;
  /** Label area: [labelOffset, labelOffset + labelSize) of the backend; size 0: none. */
  labelOffset: number;
  labelSize: number;
  unarmed: boolean;
  backend: MemoryBackend;
  /** Added by device_add while pmemvm ran (query-memory-devices says so). */
  hotplugged: boolean;
  /** It has an NFIT flush hint (flush-hint=on), served through MemoryDevices.flushHints. */
  flushHint: boolean;
}

/** A flush-hint DIMM's counters, as the durability report gives them. */
export interface FlushHintStats { requests: number; flushes: number; errors: number; lastError?: string }

export class MemoryDevices {
  /** The live set: the command line's devices, then hot-added ones; a reboot builds the machine from it. */
  readonly nvdimms: Nvdimm[];
  readonly virtioPmems: VirtioPmemPlacement[];
  private unnamed: number;
  /**
   * Flush-hint state shared with the vCPU threads, by slot. It outlives guest
   * reboots, as the backends do: a failed flush stays on the record.
   */
  readonly flushHints = new FlushHintTable();
  private readonly warn: (message: string) => void;

  private constructor(
    readonly region: DeviceMemoryRegion,
    readonly allocator: DeviceMemory,
    private readonly backendMap: Map<string, MemoryBackend>,
    nvdimms: Nvdimm[],
    virtioPmems: VirtioPmemPlacement[],
    warn: ((message: string) => void) | undefined,
  ) {
    this.nvdimms = nvdimms;
    this.virtioPmems = virtioPmems;
    this.unnamed = nvdimms.length + virtioPmems.length;
    this.warn = warn ?? ((m: string) => fs.writeSync(2, `pmemvm: warning: ${m}\n`));
    for (const n of nvdimms) this.attachFlushHint(n);
  }

  /** Memory backends by id: the command line's and object-add's, until object-del. */
  get backends(): ReadonlyMap<string, MemoryBackend> { return this.backendMap; }

  /** Open every backend, then place every device; all or nothing. */
  static open(cfg: MemoryDevicesConfig, opts: OpenOptions = {}): MemoryDevices {
    const backends = new Map<string, MemoryBackend>();
    try {
      for (const spec of cfg.backends) backends.set(spec.id, openBackend(spec, opts));
      const region = deviceMemoryRegion(cfg.ramSize, cfg.maxmem ?? cfg.ramSize, cfg.slots);
      const allocator = new DeviceMemory({ base: region.base, size: region.size, slots: cfg.slots, limit: region.limit });
      const nvdimms = cfg.nvdimms.map((d, i) => placeNvdimm(allocator, backends, d, `nvdimm${i}`, false));
      const virtioPmems: VirtioPmemPlacement[] = [];
      for (const [i, d] of (cfg.virtioPmems ?? []).entries()) virtioPmems.push(placeVirtioPmem(allocator, backends, d, `virtio-pmem${i}`, virtioPmems, false));
      return new MemoryDevices(region, allocator, backends, nvdimms, virtioPmems, opts.warn);
    } catch (e) {
      for (const b of backends.values()) {
        try { b.close(); } catch { /* closing what we opened; the first error is the news */ }
        if (b.createdPath) fs.rmSync(b.createdPath, { force: true });
      }
      throw e;
    }
  }

  /** Take a backend opened at run time (object-add). */
  addBackend(b: MemoryBackend): void {
    if (this.backendMap.has(b.id)) throw new Error(`memory backend '${b.id}' exists`);
    this.backendMap.set(b.id, b);
  }

  /** Close and forget an unused backend (object-del); false if there is none by that id. */
  deleteBackend(id: string): boolean {
    const b = this.backendMap.get(id);
    if (!b) return false;
    if (this.busyBackends().has(id)) throw new Error(`memory backend '${id}' is in use`);
    this.backendMap.delete(id);
    b.close();
    return true;
  }

  /** Backends that a device uses. */
  busyBackends(): Set<string> {
    return new Set([...this.nvdimms.map((n) => n.backend.id), ...this.virtioPmems.map((v) => v.backend.id)]);
  }

  /** Every device's id (-device id=). */
  deviceIds(): Set<string> {
    return new Set([...this.nvdimms, ...this.virtioPmems].map((x) => x.id).filter((x): x is string => x !== undefined));
  }

  /**
   * Add an NVDIMM to the live set (device_add): the command line's checks and
   * placement. On an error nothing changed (no slot, no address taken).
   */
  addNvdimm(d: NvdimmConfig): Nvdimm {
    const n = placeNvdimm(this.allocator, this.backendMap, d, `nvdimm${this.unnamed}`, true);
    this.unnamed++;
    this.nvdimms.push(n);
    this.attachFlushHint(n);
    return n;
  }

  /** Serve the DIMM's flush hint (if it has one), and say so when it buys nothing. */
  private attachFlushHint(n: Nvdimm): void {
    if (!n.flushHint) return;
    const b = n.backend;
    this.flushHints.attach(n.slot, b.guestFlushFd);
    if (b.guestFlushFd >= 0) return;
    const why = b.mapSync ? `memdev '${b.id}' is mapped with MAP_SYNC (pmem=on on a DAX file), so guest stores reach persistent memory without a flush`
      : b.durability().mode === 'devdax' ? `memdev '${b.id}' is device DAX, so guest stores reach persistent memory without a flush`
      : `memdev '${b.id}' writes nothing back to a file (${b.durability().reason})`;
    this.warn(`nvdimm '${n.name}': flush-hint=on is not needed: ${why}; the guest keeps the hint, and its flushes do nothing on the host`);
  }

  /** A flush-hint DIMM's counters (requests from the guest, fdatasyncs, failures). */
  flushHintStats(n: Nvdimm): FlushHintStats {
    const t = this.flushHints, errno = t.lastErrno(n.slot);
    const s: FlushHintStats = { requests: t.requests(n.slot), flushes: t.flushes(n.slot), errors: t.errors(n.slot) };
    return errno ? { ...s, lastError: libc.errnoName(errno) } : s;
  }

  private nvdimmDurability(n: Nvdimm): DurabilityReport {
    if (!n.flushHint) return n.backend.durability();
    const { errors, lastError } = this.flushHintStats(n);
    const facts: FlushHintFacts = lastError ? { errors, lastError } : { errors };
    return n.backend.durability({ flushHint: facts });
  }

  /** Add a virtio-pmem device to the live set (device_add); on an error nothing changed. */
  addVirtioPmem(d: VirtioPmemConfig): VirtioPmemPlacement {
    const p = placeVirtioPmem(this.allocator, this.backendMap, d, `virtio-pmem${this.unnamed}`, this.virtioPmems, true);
    this.unnamed++;
    this.virtioPmems.push(p);
    return p;
  }

  /** Undo addNvdimm when the machine could not take the device (NVDIMMs are never unplugged from a guest). */
  removeNvdimm(n: Nvdimm): void {
    const i = this.nvdimms.indexOf(n);
    if (i < 0) return;
    this.nvdimms.splice(i, 1);
    if (n.flushHint) this.flushHints.detach(n.slot);
    this.allocator.release(n.name);
  }

  /** Forget an unplugged (or never attached) virtio-pmem device: its address range and PCI slot are free again. */
  removeVirtioPmem(p: VirtioPmemPlacement): void {
    const i = this.virtioPmems.indexOf(p);
    if (i < 0) return;
    this.virtioPmems.splice(i, 1);
    this.allocator.release(p.name);
  }

  /** One line per device: is what the guest writes there safe from a host crash, and why. */
  durabilityLines(): string[] {
    return [
      ...this.nvdimms.map((d) => formatDurability(d.name, this.nvdimmDurability(d))),
      ...this.virtioPmems.map((d) => formatDurability(d.name, d.backend.durability({ fsyncOnGuestFlush: true }))),
    ];
  }

  /** The same facts for programs: one entry per device, in command-line order. */
  durabilityReport(): (DurabilityReport & { device: string; driver: 'nvdimm' | 'virtio-pmem-pci'; addr: number; size: number; slot?: number; flushHint?: FlushHintStats })[] {
    return [
      ...this.nvdimms.map((d) => ({
        device: d.name, driver: 'nvdimm' as const, slot: d.slot, addr: d.addr, size: d.size, ...this.nvdimmDurability(d),
        ...(d.flushHint ? { flushHint: this.flushHintStats(d) } : {}),
      })),
      ...this.virtioPmems.map((d) => ({
        device: d.name, driver: 'virtio-pmem-pci' as const, addr: d.addr, size: d.size, ...d.backend.durability({ fsyncOnGuestFlush: true }),
      })),
    ];
  }

  /** Write back and unmap every backend. Throws the first flush failure after closing all. */
  close(): void {
    let failure: unknown = null;
    for (const b of this.backends.values()) {
      try { b.close(); } catch (e) { failure ??= e; }
    }
    if (failure) throw failure;
  }
}

function placeNvdimm(allocator: DeviceMemory, backends: ReadonlyMap<string, MemoryBackend>, d: NvdimmConfig, fallbackName: string, hotplugged: boolean): Nvdimm {
  const name = d.id ?? fallbackName;
  const backend = backends.get(d.memdev);
  // validateOptions() already checked memdev names; this is a programming error.
  if (!backend) throw new Error(`nvdimm '${name}': no backend '${d.memdev}'`);
  // QEMU (nvdimm_prepare_memory_region): the persistent part is what is left
  // after the label area, aligned down to the backend's alignment; the label
  // area follows it.
  const size = Math.floor((backend.size - d.labelSize) / backend.align) * backend.align;
  if (d.labelSize >= backend.size || size <= 0) {
    throw new UserError(`nvdimm '${name}': memdev '${d.memdev}' (0x${hex(backend.size)} bytes) is too small to hold ` +
      `the 0x${hex(d.labelSize)}-byte label area plus 0x${hex(backend.align)} bytes of aligned persistent memory; make the backend larger`);
  }
  if (d.labelSize > 0 && !d.labelOverwrite) refuseToHideData(name, d, backend, size);
  const { addr, slot } = allocator.allocate({ id: name, size, align: backend.align, addrAlign: PLACEMENT_ALIGN, addr: d.addr, slot: d.slot });
  return { id: d.id, name, slot, addr, size, labelOffset: size, labelSize: d.labelSize, unarmed: d.unarmed, backend, hotplugged, flushHint: d.flushHint ?? false };
}

/**
 * docs/nvdimm.txt (Label, note 2): adding label-size to a backend used without
 * labels hides its last bytes from the guest, which then writes labels there;
 * QEMU does it silently and a file system ending there is corrupted. Refuse
 * unless the area is blank or already holds a valid namespace index.
 */
function placeVirtioPmem(
  allocator: DeviceMemory, backends: ReadonlyMap<string, MemoryBackend>, d: VirtioPmemConfig, fallbackName: string,
  others: readonly VirtioPmemPlacement[], hotplugged: boolean,
): VirtioPmemPlacement {
  const name = d.id ?? fallbackName;
  const backend = backends.get(d.memdev);
  if (!backend) throw new Error(`virtio-pmem '${name}': no backend '${d.memdev}'`);
  // The PCI slot first: a refusal must leave no address taken.
  const usedSlots = new Set(others.map((o) => o.pciSlot));
  let pciSlot = d.pciSlot;
  if (pciSlot === undefined) {
    pciSlot = 2;
    while (usedSlots.has(pciSlot)) pciSlot++;
    if (pciSlot > 31) throw new UserError(`virtio-pmem '${name}': no free PCI slot left on bus 0`);
  } else if (pciSlot === 0 || usedSlots.has(pciSlot)) {
    throw new UserError(`virtio-pmem '${name}': PCI slot ${pciSlot} is already taken${pciSlot === 0 ? ' by the host bridge' : ''}; pick another addr=`);
  }
  // The whole backend is the guest's persistent memory; it takes no ACPI slot.
  const { addr } = allocator.allocate({ id: name, size: backend.size, align: backend.align, addrAlign: PLACEMENT_ALIGN, needsSlot: false });
  return { id: d.id, name, addr, size: backend.size, pciSlot, backend, hotplugged };
}

function refuseToHideData(name: string, d: NvdimmConfig, backend: MemoryBackend, labelOffset: number): void {
  const info = decodeLabelArea(backend.view(labelOffset, d.labelSize));
  if (info.state !== 'unknown-data') return;
  const where = backend.spec.memPath ?? `memory backend '${backend.id}'`;
  throw new UserError(`nvdimm '${name}': label-size=${formatBytes(d.labelSize)} would hide bytes 0x${hex(labelOffset)}-0x${hex(labelOffset + d.labelSize - 1)} ` +
    `of ${where}, which hold data (${info.nonZeroBytes} non-zero bytes) but no namespace labels, and the guest would overwrite them; ` +
    'use a new backend file, or add label-overwrite=on to -device nvdimm if that data may be lost');
}

function formatBytes(n: number): string {
  for (const [unit, size] of [['G', 1 << 30], ['M', 1 << 20], ['K', 1 << 10]] as const) if (n % size === 0) return `${n / size}${unit}`;
  return `${n}`;
}

function hex(n: number): string { return n.toString(16); }
