/**
 * What the monitor needs from the machine. The machine implements it; the command
 * handlers (commands.ts) call it and shape QEMU's replies. Every method may throw a
 * QmpError (its class and text reach the client unchanged); anything else thrown is a
 * pmemvm bug and becomes a GenericError. A method may return a promise (the session
 * answers when it settles and serves the next command after that, as QEMU does).
 * Members are named as in QEMU's QAPI schema (qapi/*.json, 7.2) where a reply carries them.
 */
import type { DurabilityReport } from '../memory/durability.js';
import type { CpuRegisters } from '../kvm/vcpu-registers.js';

export type RunState = 'running' | 'paused' | 'shutdown' | 'prelaunch' | 'internal-error' | 'guest-panicked' | 'suspended';

export interface StatusInfo {
  status: RunState;
  running: boolean;
}

/** CpuInfoFast. */
export interface CpuInfo {
  cpuIndex: number;
  threadId: number;
  qomPath: string;
  /** CpuInstanceProperties: x86 uses node-id, socket-id, core-id, thread-id (optional members). */
  props: { nodeId?: number; socketId?: number; dieId?: number; coreId?: number; threadId?: number };
  target: 'x86_64';
}

/** MemoryInfo: base (boot RAM) and, when the machine has hotplug slots, plugged device memory. */
export interface MemorySizeSummary {
  baseMemory: number | bigint;
  pluggedMemory?: number | bigint;
}

/** PCDIMMDeviceInfo (an nvdimm's data). `memdev` is the backend's QOM path, "/objects/ID". */
export interface DimmInfo {
  id?: string;
  addr: number | bigint;
  size: number | bigint;
  slot: number;
  node: number;
  memdev: string;
  hotplugged: boolean;
  hotpluggable: boolean;
}

/** VirtioPMEMDeviceInfo. */
export interface VirtioPmemInfo {
  id?: string;
  memaddr: number | bigint;
  size: number | bigint;
  memdev: string;
}

/** MemoryDeviceInfo, QEMU's union: pmemvm has nvdimm and virtio-pmem (and could have dimm). */
export type MemoryDeviceInfo =
  | { type: 'nvdimm'; data: DimmInfo }
  | { type: 'dimm'; data: DimmInfo }
  | { type: 'virtio-pmem'; data: VirtioPmemInfo };

/** Memdev (query-memdev). */
export interface MemdevInfo {
  id?: string;
  size: number | bigint;
  merge: boolean;
  dump: boolean;
  prealloc: boolean;
  share: boolean;
  reserve?: boolean;
  hostNodes: number[];
  policy: 'default' | 'preferred' | 'bind' | 'interleave';
}

/** PciMemoryRegion. `address` is -1 while the BAR is unassigned, as QEMU reports it. */
export interface PciRegion {
  bar: number;
  type: 'io' | 'memory';
  address: number | bigint;
  size: number | bigint;
  prefetch?: boolean;
  memType64?: boolean;
}

/** PciDeviceInfo (bridges left out: pmemvm has none). */
export interface PciDeviceInfo {
  bus: number;
  slot: number;
  function: number;
  classInfo: { desc?: string; class: number };
  id: { vendor: number; device: number; subsystemVendor?: number; subsystem?: number };
  /** Legacy INTx line the device uses, if its interrupt pin is set. */
  irq?: number;
  /** 0 when the device has no interrupt pin; 1..4 for INTA..INTD. */
  irqPin: number;
  regions: PciRegion[];
  qdevId: string;
}

export interface PciBusInfo {
  bus: number;
  devices: PciDeviceInfo[];
}

/** ChardevInfo. */
export interface ChardevInfo {
  label: string;
  filename: string;
  frontendOpen: boolean;
}

/**
 * One NVDIMM's or virtio-pmem's durability facts: the same entries as -durability-report
 * (MemoryDevices.durabilityReport() in src/machine/memory-devices.ts).
 */
export type DurabilityEntry = DurabilityReport & { device: string; driver: 'nvdimm' | 'virtio-pmem-pci'; addr: number; size: number; slot?: number };

export interface MachineControl {
  status(): StatusInfo;
  /** Pause the vCPUs (emits STOP). */
  stop(): void | Promise<void>;
  /** Resume (emits RESUME). QEMU refuses while in prelaunch with incoming migration etc.; the machine decides. */
  cont(): void | Promise<void>;
  /** system_reset. */
  reset(): void | Promise<void>;
  /** ACPI power button (system_powerdown). */
  powerdown(): void | Promise<void>;
  /**
   * quit: as QEMU does, stop the guest and emit SHUTDOWN {"guest": false, "reason":
   * "host-qmp-quit"} now (before the reply), then exit on a later turn of the event loop
   * (setImmediate), so the reply written right after this returns goes out first.
   */
  quit(): void | Promise<void>;
  /** -name, if given. */
  name(): string | undefined;
  /** KVM is present and in use. */
  kvm(): { enabled: boolean; present: boolean };
  cpus(): CpuInfo[];
  /** Each vCPU's registers (HMP info registers), or a line saying why they could not be read. */
  cpuRegisters(): Promise<(CpuRegisters | string)[]>;
  memorySizeSummary(): MemorySizeSummary;
  memoryDevices(): MemoryDeviceInfo[];
  memdevs(): MemdevInfo[];
  pci(): PciBusInfo[];
  chardevs(): ChardevInfo[];
  /** chardev-send-break: a break on the chardev `id` (the guest's serial port sees it if it is attached there). */
  chardevSendBreak(id: string): void;
  durability(): DurabilityEntry[];
  /**
   * object-add: `props` holds qom-type, id and the backend's properties as the command
   * line would give them (strings: "on"/"off", decimal numbers), so the machine can run
   * them through the same parser as -object.
   */
  objectAdd(props: Record<string, string>): void | Promise<void>;
  /** object-del: QmpError('GenericError', "object 'X' not found") if there is none. */
  objectDel(id: string): void | Promise<void>;
  /** device_add: driver, id and properties as -device would give them (strings). */
  deviceAdd(props: Record<string, string>): void | Promise<void>;
  /** device_del: QmpError('DeviceNotFound', "Device 'X' not found") if there is none. */
  deviceDel(id: string): void | Promise<void>;
}
