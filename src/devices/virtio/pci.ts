/**
 * The virtio-over-PCI transport, modern only (virtio 1.2, 4.1): a PCI
 * function 1af4:(1040 + device id), revision 1, whose vendor capabilities
 * point into one 64-bit memory BAR holding the common configuration, the
 * ISR status, the device configuration and the queue notification area.
 * Interrupts are INTx (level, cleared by reading ISR); the guest's driver
 * falls back to it when the function has no MSI-X capability.
 */
import type { BusDevice } from '../bus.js';
import { PciConfigSpace } from '../pci/config-space.js';
import { SplitQueue, VirtqueueError, type QueueMemory } from './queue.js';

/** What a device type (pmem, ...) gives the transport. */
export interface VirtioDeviceModel {
  readonly deviceId: number;
  /** Feature bits beyond VIRTIO_F_VERSION_1. */
  readonly features: bigint;
  readonly queueSizes: readonly number[];
  /** Device-specific configuration bytes (read-only to the driver here). */
  readonly config: Uint8Array;
  /** The driver notified queue `index`; the model pops and answers its chains. */
  notify(index: number, queue: SplitQueue, transport: VirtioPciTransport): void;
  /** The driver reset the device: forget in-flight work. */
  reset(): void;
}

export const VIRTIO_F_VERSION_1 = 1n << 32n;
export const STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 0x40, FAILED: 0x80 } as const;

// BAR layout, as QEMU's: 4 KiB per structure.
const BAR_INDEX = 4;
const BAR_SIZE = 0x4000;
const COMMON = 0x0000, ISR = 0x1000, DEVICE = 0x2000, NOTIFY = 0x3000;
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
  ring: SplitQueue | null;
}

export interface VirtioPciOptions {
  memory: QueueMemory;
  /** Drive the function's INTx line (level). */
  setIrq: (level: boolean) => void;
  /** Something the guest did wrong, for the log. */
  onError?: (message: string) => void;
}

export class VirtioPciTransport {
  readonly pci: PciConfigSpace;
  /** The BAR's MMIO handler; the machine maps it where the guest puts the BAR. */
  readonly bar: BusDevice;
  readonly barSize = BAR_SIZE;
  readonly barIndex = BAR_INDEX;

  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private queueSelect = 0;
  private isr = 0;
  private generation = 0;
  private queues: QueueState[];

  constructor(private readonly model: VirtioDeviceModel, private readonly o: VirtioPciOptions) {
    this.pci = new PciConfigSpace({
      vendor: 0x1af4, device: 0x1040 + model.deviceId, revision: 1, classCode: 0xff0000,
      subsystemVendor: 0x1af4, subsystem: 0x1100,
    });
    this.pci.addBar64(BAR_INDEX, BAR_SIZE, true);
    this.pci.setInterruptPin(1);
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.COMMON, COMMON, 0x1000));
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.ISR, ISR, 0x1000));
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.DEVICE, DEVICE, 0x1000));
    this.pci.addCapability(CAP_VENDOR, virtioCap(CFG_TYPE.NOTIFY, NOTIFY, 0x1000, NOTIFY_MULTIPLIER));
    this.queues = model.queueSizes.map((n) => ({ size: n, maxSize: n, enabled: false, desc: 0n, driver: 0n, device: 0n, ring: null }));
    this.bar = { width: 4, read: (off, size) => this.read(off, size), write: (off, size, v) => this.write(off, size, v) };
  }

  get deviceFeatures(): bigint { return VIRTIO_F_VERSION_1 | this.model.features; }
  get driverOk(): boolean { return (this.status & STATUS.DRIVER_OK) !== 0 && (this.status & STATUS.NEEDS_RESET) === 0; }

  /** A used buffer is ready: set ISR bit 0 and raise INTx. */
  interrupt(): void {
    this.isr |= 1;
    this.o.setIrq(true);
  }

  /** The device cannot go on (bad ring from the guest): DEVICE_NEEDS_RESET, as the spec asks. */
  broken(why: string): void {
    this.o.onError?.(`virtio device ${this.model.deviceId}: ${why}; marked as needing reset`);
    this.status |= STATUS.NEEDS_RESET;
    this.isr |= 2; // configuration change
    this.o.setIrq(true);
  }

  private reset(): void {
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeatureSelect = this.driverFeatureSelect = this.queueSelect = 0;
    for (const q of this.queues) Object.assign(q, { size: q.maxSize, enabled: false, desc: 0n, driver: 0n, device: 0n, ring: null });
    this.isr = 0;
    this.o.setIrq(false);
    this.model.reset();
  }

  private read(off: number, size: number): number {
    if (off >= COMMON && off < COMMON + 0x1000) return this.readCommon(off - COMMON, size);
    if (off === ISR) {
      const v = this.isr; // reading ISR acknowledges the interrupt
      this.isr = 0;
      this.o.setIrq(false);
      return v;
    }
    if (off >= DEVICE && off < DEVICE + 0x1000) {
      const at = off - DEVICE;
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.model.config[at + i] ?? 0);
      return v >>> 0;
    }
    return 0;
  }

  private write(off: number, size: number, value: number): void {
    if (off >= COMMON && off < COMMON + 0x1000) return this.writeCommon(off - COMMON, value);
    if (off >= NOTIFY && off < NOTIFY + 0x1000) {
      const index = (off - NOTIFY) / NOTIFY_MULTIPLIER;
      if (Number.isInteger(index)) this.kick(index);
    }
  }

  private kick(index: number): void {
    const q = this.queues[index];
    if (!q || !q.enabled || !q.ring || !this.driverOk) return;
    try {
      this.model.notify(index, q.ring, this);
    } catch (e) {
      if (e instanceof VirtqueueError || (e as Error).name === 'GuestMemoryError') this.broken((e as Error).message);
      else throw e;
    }
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
      case 0x10: return 0xffff; // msix_config: no MSI-X
      case 0x12: return this.queues.length;
      case 0x14: return size === 1 ? this.status : this.status | (this.generation << 8);
      case 0x15: return this.generation;
      case 0x16: return this.queueSelect;
      case 0x18: return q ? q.size : 0;
      case 0x1a: return 0xffff; // queue_msix_vector: none
      case 0x1c: return q?.enabled ? 1 : 0;
      case 0x1e: return q ? this.queueSelect : 0; // notify offset (times the multiplier)
      case 0x20: case 0x24: return q ? half(q.desc, off === 0x24) : 0;
      case 0x28: case 0x2c: return q ? half(q.driver, off === 0x2c) : 0;
      case 0x30: case 0x34: return q ? half(q.device, off === 0x34) : 0;
      default: return 0;
    }
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
      case 0x14: return this.setStatus(value & 0xff);
      case 0x16: this.queueSelect = value & 0xffff; return;
      case 0x18:
        // A smaller power of two than the maximum is allowed before the queue is enabled.
        if (q && !q.enabled && value > 0 && value <= q.maxSize && (value & (value - 1)) === 0) q.size = value;
        return;
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
  }

  private enable(q: QueueState): void {
    try {
      q.ring = new SplitQueue(this.o.memory, q.size, Number(q.desc), Number(q.driver), Number(q.device));
      q.enabled = true;
    } catch (e) {
      if (e instanceof VirtqueueError) this.broken(e.message);
      else throw e;
    }
  }
}
