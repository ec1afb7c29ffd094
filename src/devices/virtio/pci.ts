/**
 * The virtio-over-PCI transport, modern only (virtio 1.2, 4.1): a PCI
 * function 1af4:(1040 + device id), revision 1, whose vendor capabilities
 * point into one 64-bit memory BAR holding the common configuration, the
 * ISR status, the device configuration, the queue notification area and the
 * MSI-X table. Interrupts are MSI-X (one vector for configuration changes,
 * one per queue, as Linux asks) or, for drivers that do not enable it, INTx
 * (level, cleared by reading ISR).
 *
 * The transport runs on the main thread. The queues are served elsewhere
 * (the device's own thread): a notify is handed on through `notify`, and
 * queue layouts, ISR and MSI-X vectors are shared through VirtioShared.
 */
import type { BusDevice } from '../bus.js';
import type { IrqSink } from '../irq-sink.js';
import { PciConfigSpace } from '../pci/config-space.js';
import { MSIX_CONTROL_WRITABLE_HIGH_BYTE, MSIX_ENTRY_BYTES, PCI_CAP_ID_MSIX, msixCapability } from '../pci/msix.js';
import { SplitQueue, VirtqueueError, type QueueMemory } from './queue.js';
import { NO_VECTOR, VirtioShared } from './shared.js';

/** What a device type (pmem, ...) gives the transport. */
export interface VirtioDeviceModel {
  readonly deviceId: number;
  /** PCI class code (class << 16 | subclass << 8 | interface), as QEMU gives this device type. */
  readonly pciClass: number;
  /** Feature bits beyond VIRTIO_F_VERSION_1. */
  readonly features: bigint;
  readonly queueSizes: readonly number[];
  /** Device-specific configuration bytes (read-only to the driver here). */
  readonly config: Uint8Array;
}

export const VIRTIO_F_VERSION_1 = 1n << 32n;
export const STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 0x40, FAILED: 0x80 } as const;

// BAR layout: 4 KiB per structure, as QEMU's, with the MSI-X table and PBA after them.
const BAR_INDEX = 4;
const BAR_SIZE = 0x8000;
const COMMON = 0x0000, ISR = 0x1000, DEVICE = 0x2000, NOTIFY = 0x3000, MSIX_TABLE = 0x4000, MSIX_PBA = 0x5000;
const NOTIFY_MULTIPLIER = 4;
const CAP_VENDOR = 0x09;
const CFG_TYPE = { COMMON: 1, NOTIFY: 2, ISR: 3, DEVICE: 4 } as const;

function virtioCap(type: number, offset: number, length: number, extra?: number): Uint8Array {
  const body = new Uint8Array(extra === undefined ? 14 : 18); // cap_len counts id and next too
  const v = new DataView(body.buffer);
  body[0] = body.length + 2; // cap_len
  body[1] = type;
  body[2] = BAR_INDEX;
  v.setUint32(6, offset, true);
  v.setUint32(10, length, true);
  if (extra !== undefined) v.setUint32(14, extra, true);
  return body;
}

interface QueueState {
  size: number;
  maxSize: number;
  enabled: boolean;
  desc: bigint; driver: bigint; device: bigint;
  /** Published to the queue thread (enabled, and the driver is OK). */
  live: boolean;
}

export interface VirtioPciOptions {
  /** Guest memory, to check the rings when a queue is enabled. */
  memory: QueueMemory;
  /** INTx line and MSI delivery. */
  irq: IrqSink;
  /** The driver notified a live queue: wake whoever serves it. */
  notify: (queue: number) => void;
  /** Something the guest did wrong, for the log. */
  onError?: (message: string) => void;
  /**
   * A 4 KiB page kept equal to what reads of the common configuration return.
   * The machine maps it read-only over the structure: reads (Linux reads the
   * device status around every request) then never leave the guest, and
   * writes still exit to us. Every value there changes only by a write we
   * handle or by the main thread, so the page is re-rendered after each.
   */
  commonMirror?: Uint8Array;
  /** The driver changed the MSI-X table, mask or enable bits, or a vector assignment (after the change). */
  interruptsChanged?: () => void;
  /** A live queue is about to be withdrawn (reset, a broken device): answers written without the lock land before. */
  quiesce?: () => void;
}

/** Where the common configuration structure sits in the BAR (a whole 4 KiB page). */
export const COMMON_CONFIG_OFFSET = COMMON;

/** Where the driver writes to notify queue `index`, relative to the BAR. */
export const notifyOffset = (index: number) => NOTIFY + NOTIFY_MULTIPLIER * index;

export class VirtioPciTransport {
  readonly pci: PciConfigSpace;
  /** The BAR's MMIO handler; the machine maps it where the guest puts the BAR. */
  readonly bar: BusDevice;
  readonly barSize = BAR_SIZE;
  readonly barIndex = BAR_INDEX;
  /** Shared with the thread that serves the queues. */
  readonly shared: VirtioShared;

  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private queueSelect = 0;
  private generation = 0;
  private queues: QueueState[];
  private readonly msixCap: number;

  constructor(private readonly model: VirtioDeviceModel, private readonly o: VirtioPciOptions) {
    this.pci = new PciConfigSpace({
      vendor: 0x1af4, device: 0x1040 + model.deviceId, revision: 1, classCode: model.pciClass,
      subsystemVendor: 0x1af4, subsystem: 0x1100,
    });
    const vectors = model.queueSizes.length + 1;
    this.shared = new VirtioShared(model.queueSizes.length, vectors);
    this.pci.addBar64(BAR_INDEX, BAR_SIZE, true);
    this.pci.setInterruptPin(1);
    this.msixCap = this.pci.addCapability(PCI_CAP_ID_MSIX, msixCapability(vectors, BAR_INDEX, MSIX_TABLE, MSIX_PBA));
    this.pci.writable[this.msixCap + 3] = MSIX_CONTROL_WRITABLE_HIGH_BYTE;
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.COMMON, COMMON, 0x1000));
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.ISR, ISR, 0x1000));
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.DEVICE, DEVICE, 0x1000));
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.NOTIFY, NOTIFY, 0x1000, NOTIFY_MULTIPLIER));
    this.pci.addWriteListener((offset, size) => {
      if (offset <= this.msixCap + 3 && offset + size > this.msixCap + 2) {
        const control = this.pci.read(this.msixCap + 2, 2);
        this.shared.locked(() => this.shared.msix.setControl(control, this.o.irq));
        this.o.interruptsChanged?.();
      }
    });
    this.queues = model.queueSizes.map((n) => ({ size: n, maxSize: n, enabled: false, desc: 0n, driver: 0n, device: 0n, live: false }));
    this.bar = { width: 4, read: (off, size) => this.read(off, size), write: (off, size, v) => this.write(off, size, v) };
    this.renderCommon();
  }

  /** Refresh the read-only mirror of the common configuration. */
  private renderCommon(): void {
    const out = this.o.commonMirror;
    if (!out) return;
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const off of [0x00, 0x04, 0x08, 0x0c, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34]) v.setUint32(off, this.readCommon(off, 4), true);
    for (const off of [0x10, 0x12, 0x16, 0x18, 0x1a, 0x1c, 0x1e]) v.setUint16(off, this.readCommon(off, 2), true);
    v.setUint8(0x14, this.readCommon(0x14, 1));
    v.setUint8(0x15, this.readCommon(0x15, 1));
  }

  get deviceFeatures(): bigint { return VIRTIO_F_VERSION_1 | this.model.features; }
  get driverOk(): boolean { return (this.status & STATUS.DRIVER_OK) !== 0 && (this.status & STATUS.NEEDS_RESET) === 0; }

  /** The device cannot go on (bad ring from the guest): DEVICE_NEEDS_RESET, as the spec asks. */
  broken(why: string): void {
    this.o.onError?.(`virtio device ${this.model.deviceId}: ${why}; marked as needing reset`);
    this.status |= STATUS.NEEDS_RESET;
    this.publish();
    this.renderCommon();
    this.shared.locked(() => this.shared.interruptConfig(this.o.irq));
  }

  private reset(): void {
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeatureSelect = this.driverFeatureSelect = this.queueSelect = 0;
    for (const q of this.queues) Object.assign(q, { size: q.maxSize, enabled: false, desc: 0n, driver: 0n, device: 0n });
    this.publish();
    this.shared.locked(() => {
      this.shared.takeIsr(this.o.irq);
      this.shared.configVector = NO_VECTOR;
      for (let i = 0; i < this.queues.length; i++) this.shared.setQueueVector(i, NO_VECTOR);
    });
    this.o.interruptsChanged?.();
  }

  /** Hand live queues to the queue thread, and withdraw the others (under the lock: no answer lands after). */
  private publish(): void {
    if (this.queues.some((q) => q.live && !(q.enabled && this.driverOk))) this.o.quiesce?.();
    this.shared.locked(() => {
      this.queues.forEach((q, i) => {
        const live = q.enabled && this.driverOk;
        if (live === q.live) return;
        q.live = live;
        this.shared.publishQueue(i, live ? { size: q.size, desc: Number(q.desc), avail: Number(q.driver), used: Number(q.device) } : null);
      });
    });
  }

  private read(off: number, size: number): number {
    if (off >= COMMON && off < COMMON + 0x1000) return this.readCommon(off - COMMON, size);
    if (off === ISR) return this.shared.locked(() => this.shared.takeIsr(this.o.irq)); // reading ISR acknowledges INTx
    if (off >= DEVICE && off < DEVICE + 0x1000) {
      const at = off - DEVICE;
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.model.config[at + i] ?? 0);
      return v >>> 0;
    }
    if (off >= MSIX_TABLE && off < MSIX_PBA) return this.shared.locked(() => this.shared.msix.readTable(off - MSIX_TABLE)) >>> (8 * (off & 3));
    if (off >= MSIX_PBA && off < MSIX_PBA + 0x1000) return this.shared.locked(() => this.shared.msix.readPba(off - MSIX_PBA));
    return 0;
  }

  private write(off: number, size: number, value: number): void {
    if (off >= COMMON && off < COMMON + 0x1000) {
      this.writeCommon(off - COMMON, value);
      this.renderCommon();
      return;
    }
    if (off >= NOTIFY && off < NOTIFY + 0x1000) {
      const index = (off - NOTIFY) / NOTIFY_MULTIPLIER;
      if (Number.isInteger(index)) this.kick(index);
      return;
    }
    // The table takes aligned dwords (the spec allows nothing narrower to be relied on).
    if (off >= MSIX_TABLE && off < MSIX_PBA && size === 4 && (off & 3) === 0) this.writeTable(off - MSIX_TABLE, value);
  }

  /**
   * Apart from write(), which every queue notify goes through: a function holding an arrow
   * function that uses its variables makes a context object at every call (unoptimized code).
   */
  private writeTable(offset: number, value: number): void {
    this.shared.locked(() => this.shared.msix.writeTable(offset, value, this.o.irq));
    this.o.interruptsChanged?.();
  }

  private kick(index: number): void {
    const q = this.queues[index];
    if (q?.live) this.o.notify(index);
  }

  private get selected(): QueueState | undefined { return this.queues[this.queueSelect]; }

  private readCommon(off: number, size: number): number {
    const q = this.selected;
    const feat = (sel: number, f: bigint) => (sel < 2 ? Number((f >> BigInt(32 * sel)) & 0xffffffffn) : 0);
    const half = (v: bigint, hi: boolean) => Number((hi ? v >> 32n : v) & 0xffffffffn);
    switch (off) {
      case 0x00: return this.deviceFeatureSelect;
      case 0x04: return feat(this.deviceFeatureSelect, this.deviceFeatures);
      case 0x08: return this.driverFeatureSelect;
      case 0x0c: return feat(this.driverFeatureSelect, this.driverFeatures);
      case 0x10: return this.shared.locked(() => this.shared.configVector);
      case 0x12: return this.queues.length;
      case 0x14: return size === 1 ? this.status : this.status | (this.generation << 8);
      case 0x15: return this.generation;
      case 0x16: return this.queueSelect;
      case 0x18: return q ? q.size : 0;
      case 0x1a: return q ? this.shared.locked(() => this.shared.queueVector(this.queueSelect)) : NO_VECTOR;
      case 0x1c: return q?.enabled ? 1 : 0;
      case 0x1e: return q ? this.queueSelect : 0; // notify offset (times the multiplier)
      case 0x20: case 0x24: return q ? half(q.desc, off === 0x24) : 0;
      case 0x28: case 0x2c: return q ? half(q.driver, off === 0x2c) : 0;
      case 0x30: case 0x34: return q ? half(q.device, off === 0x34) : 0;
      default: return 0;
    }
  }

  /** A vector number the driver may use: one of the table's, else "no vector" (the driver reads it back). */
  private vector(value: number): number {
    const v = value & 0xffff;
    return v < this.shared.vectors ? v : NO_VECTOR;
  }

  private writeCommon(off: number, value: number): void {
    const q = this.selected;
    const setHalf = (v: bigint, hi: boolean) => (hi
      ? (v & 0xffffffffn) | (BigInt(value >>> 0) << 32n)
      : (v & ~0xffffffffn) | BigInt(value >>> 0));
    switch (off) {
      case 0x00: this.deviceFeatureSelect = value >>> 0; return;
      case 0x08: this.driverFeatureSelect = value >>> 0; return;
      case 0x0c: {
        if (this.status & STATUS.FEATURES_OK || this.driverFeatureSelect > 1) return;
        const shift = BigInt(32 * this.driverFeatureSelect);
        this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift);
        return;
      }
      case 0x10: { const v = this.vector(value); this.shared.locked(() => { this.shared.configVector = v; }); this.o.interruptsChanged?.(); return; }
      case 0x14: return this.setStatus(value & 0xff);
      case 0x16: this.queueSelect = value & 0xffff; return;
      case 0x18:
        // A smaller power of two than the maximum is allowed before the queue is enabled.
        if (q && !q.enabled && value > 0 && value <= q.maxSize && (value & (value - 1)) === 0) q.size = value;
        return;
      case 0x1a: {
        if (!q) return;
        const v = this.vector(value), i = this.queueSelect;
        this.shared.locked(() => this.shared.setQueueVector(i, v));
        this.o.interruptsChanged?.();
        return;
      }
      case 0x1c: if (q && value === 1 && !q.enabled) this.enable(q); return;
      case 0x20: case 0x24: if (q && !q.enabled) q.desc = setHalf(q.desc, off === 0x24); return;
      case 0x28: case 0x2c: if (q && !q.enabled) q.driver = setHalf(q.driver, off === 0x2c); return;
      case 0x30: case 0x34: if (q && !q.enabled) q.device = setHalf(q.device, off === 0x34); return;
      default: return;
    }
  }

  private setStatus(value: number): void {
    if (value === 0) return this.reset();
    let s = value;
    if (s & STATUS.FEATURES_OK && !(this.status & STATUS.FEATURES_OK)) {
      // Accept only what we offered, and only modern drivers.
      const ok = (this.driverFeatures & ~this.deviceFeatures) === 0n && (this.driverFeatures & VIRTIO_F_VERSION_1) !== 0n;
      if (!ok) s &= ~STATUS.FEATURES_OK;
    }
    this.status = s | (this.status & STATUS.NEEDS_RESET);
    this.publish();
  }

  private enable(q: QueueState): void {
    try {
      // Checked here so a bad layout fails at once; the queue thread builds its own view.
      new SplitQueue(this.o.memory, q.size, Number(q.desc), Number(q.driver), Number(q.device));
      q.enabled = true;
      this.publish();
    } catch (e) {
      if (e instanceof VirtqueueError) this.broken(e.message);
      else throw e;
    }
  }
}
