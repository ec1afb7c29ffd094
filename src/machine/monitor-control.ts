/**
 * The monitor's view of a running pmemvm (src/monitor/machine-control.ts):
 * the run state and lifecycle commands go to the MachineRunner, the queries
 * read the machine and its memory devices, and object-add/object-del manage
 * memory backends with exactly the command line's checks and messages.
 * device_add and device_del change the live device set (MemoryDevices, the
 * one owner, also used at start-up) and plug into or unplug from the running
 * machine; a reboot builds the machine from the set as it is then.
 */
import { topoIds } from '../kvm/cpu-topology.js';
import { UserError } from '../errors.js';
import type { CpuRegisters } from '../kvm/vcpu-registers.js';
import { QmpError } from '../monitor/qmp-errors.js';
import type {
  ChardevInfo, CpuInfo, DurabilityEntry, MachineControl, MemdevInfo, MemoryDeviceInfo, MemorySizeSummary, PciBusInfo, StatusInfo,
} from '../monitor/machine-control.js';
import { parseMemoryBackend } from '../cli/backends.js';
import { parseDevice } from '../cli/devices.js';
import { isIdentifier } from '../cli/qemuopts.js';
import type { DeviceSpec, ObjectSpec, SmpOptions } from '../cli/vm-options.js';
import { openBackend, type MemoryBackend } from '../memory/backend.js';
import { nvdimmConfig, virtioPmemConfig } from '../cli/device-config.js';
import type { VirtioPmemPlacement } from './virtio-pmem.js';
import type { MachineRunner } from './run.js';
import type { MemoryDevices } from './memory-devices.js';
import { pciDeviceInfo } from './pci-info.js';
import { autoNuma } from './numa.js';

export interface MonitorControlOptions {
  runner: MachineRunner;
  devices: MemoryDevices;
  ramSize: number;
  smp: SmpOptions;
  name?: string;
  nvdimmEnabled: boolean;
  /** query-chardev's list (the monitors know whether a client is connected). */
  chardevs: () => ChardevInfo[];
  /** The chardev labels that reach the guest's COM1 (its own and, under a mux, its base's). */
  serialLabels: () => string[];
  /** A break on COM1's line. */
  sendBreak: () => void;
  /** QMP events (DEVICE_DELETED). */
  emit: (event: string, data?: Record<string, unknown>) => void;
}

/** A UserError's text without the option it was written for ("-object X: "), for a QMP reply. */
function qmpText(e: unknown, prefix: string): string {
  const m = (e as Error).message;
  return m.startsWith(prefix) ? m.slice(prefix.length) : m;
}

export class MonitorControl implements MachineControl {
  constructor(private readonly o: MonitorControlOptions) {}

  status(): StatusInfo {
    const status = this.o.runner.state;
    return { status, running: status === 'running' };
  }
  stop(): Promise<void> { return this.o.runner.stop(); }
  cont(): void { this.o.runner.cont(); }
  reset(): void { this.o.runner.reset(); }
  powerdown(): void { this.o.runner.powerdown(); }
  quit(): void { this.o.runner.quit('host-qmp-quit'); }
  name(): string | undefined { return this.o.name; }
  kvm(): { enabled: boolean; present: boolean } { return { enabled: true, present: true }; }

  cpus(): CpuInfo[] {
    const { cpus } = this.o.smp;
    const tids = this.o.runner.machine?.vcpuThreadIds() ?? [];
    return Array.from({ length: cpus }, (_, i) => {
      const at = topoIds(this.o.smp, i);
      return {
        cpuIndex: i,
        threadId: tids[i] ?? process.pid,
        qomPath: `/machine/unattached/device[${i}]`,
        // With maxmem, QEMU's pc makes one NUMA node by itself, and the CPUs name it.
        props: { ...(this.numa() ? { nodeId: 0 } : {}), socketId: at.socket, coreId: at.core, threadId: at.thread },
        target: 'x86_64' as const,
      };
    });
  }

  async cpuRegisters(): Promise<(CpuRegisters | string)[]> {
    const m = this.o.runner.machine;
    return m ? m.vcpuRegisters() : Array.from({ length: this.o.smp.cpus }, () => 'the machine is not built yet');
  }

  memorySizeSummary(): MemorySizeSummary {
    const d = this.o.devices;
    const plugged = [...d.nvdimms.map((n) => n.size), ...d.virtioPmems.map((v) => v.size)].reduce((a, b) => a + b, 0);
    return d.region.size > 0 ? { baseMemory: this.o.ramSize, pluggedMemory: plugged } : { baseMemory: this.o.ramSize };
  }

  memoryDevices(): MemoryDeviceInfo[] {
    const d = this.o.devices;
    return [
      ...d.nvdimms.map((n): MemoryDeviceInfo => ({
        type: 'nvdimm',
        // QEMU reports a DIMM's size as its backend's, label area included.
        data: { id: n.id, addr: n.addr, size: n.backend.size, slot: n.slot, node: 0, memdev: `/objects/${n.backend.id}`, hotplugged: n.hotplugged, hotpluggable: true },
      })),
      ...d.virtioPmems.map((v): MemoryDeviceInfo => ({
        type: 'virtio-pmem', data: { id: v.id, memaddr: v.addr, size: v.size, memdev: `/objects/${v.backend.id}` },
      })),
    ];
  }

  memdevs(): MemdevInfo[] {
    const info = (id: string, size: number, share: boolean, prealloc: boolean): MemdevInfo => ({
      id, size, merge: true, dump: true, prealloc, share, reserve: true, hostNodes: [], policy: 'default',
    });
    // QEMU lists the machine's own RAM backend, pc.ram, after the user's.
    return [...this.backends().map((b) => info(b.id, b.size, b.spec.share, b.spec.prealloc ?? false)), info('pc.ram', this.o.ramSize, false, false)];
  }

  /** QEMU's pc turns on one NUMA node by itself when it has device memory (maxmem); the SRAT follows the same rule. */
  private numa(): boolean { return autoNuma(this.o.devices.region) !== undefined; }

  pci(): PciBusInfo[] {
    const m = this.o.runner.machine;
    return [{ bus: 0, devices: m ? m.pci.list().map((f) => pciDeviceInfo(f, this.pciIds())) : [] }];
  }

  chardevs(): ChardevInfo[] { return this.o.chardevs(); }

  chardevSendBreak(id: string): void {
    if (!this.o.chardevs().some((c) => c.label === id)) throw new QmpError('GenericError', `Chardev '${id}' not found`);
    // A monitor's chardev has no serial port behind it: the break goes nowhere, as in QEMU.
    if (this.o.serialLabels().includes(id)) this.o.sendBreak();
  }
  durability(): DurabilityEntry[] { return this.o.devices.durabilityReport(); }

  objectAdd(props: Record<string, string>): void {
    const { 'qom-type': qomType, id, ...rest } = props;
    if (id === undefined) throw new QmpError('GenericError', "Parameter 'id' is missing");
    if (!isIdentifier(id)) throw new QmpError('GenericError', `Parameter 'id' expects an identifier`);
    if (id === 'pc.ram' || this.backends().some((b) => b.id === id)) throw new QmpError('GenericError', `attempt to add duplicate property '${id}' to object (type 'container')`);
    const arg = [qomType, `id=${id}`, ...Object.entries(rest).map(([k, v]) => `${k}=${v}`)].join(',');
    const spec: ObjectSpec = { qomType: qomType ?? '', id, props: new Map(Object.entries(rest)), flags: new Map(), arg };
    const prefix = `-object ${arg}: `;
    let backend: MemoryBackend;
    try {
      const b = parseMemoryBackend(spec);
      backend = openBackend({
        id: b.id, kind: b.kind, size: b.size, memPath: b.memPath, share: b.share, align: b.align,
        pmem: b.pmem, readonly: b.readonly, discardData: b.discardData, prealloc: b.prealloc,
      });
    } catch (e) {
      if (e instanceof UserError) throw new QmpError('GenericError', qmpText(e, prefix));
      throw e;
    }
    this.o.devices.addBackend(backend);
  }

  objectDel(id: string): void {
    if (id === 'pc.ram') throw new QmpError('GenericError', "object 'pc.ram' is in use, can not be deleted");
    const d = this.o.devices;
    if (!d.backends.has(id)) throw new QmpError('GenericError', `object '${id}' not found`);
    if (d.busyBackends().has(id)) throw new QmpError('GenericError', `object '${id}' is in use, can not be deleted`);
    d.deleteBackend(id);
  }

  deviceAdd(props: Record<string, string>): void {
    const { driver, id, ...rest } = props;
    if (driver === undefined) throw new QmpError('GenericError', "Parameter 'driver' is missing");
    const arg = [driver, ...(id === undefined ? [] : [`id=${id}`]), ...Object.entries(rest).map(([k, v]) => `${k}=${v}`)].join(',');
    const spec: DeviceSpec = { driver, id, props: new Map(Object.entries(rest)), flags: new Map(), arg };
    const prefix = `-device ${arg}: `;
    const d = this.o.devices;
    const asQmp = <T>(f: () => T): T => {
      try {
        return f();
      } catch (e) {
        if (e instanceof UserError) throw new QmpError('GenericError', qmpText(e, prefix));
        throw e;
      }
    };
    const dev = asQmp(() => parseDevice(spec));
    if (id !== undefined && d.deviceIds().has(id)) throw new QmpError('GenericError', `Duplicate device ID '${id}'`);
    if (dev.driver === 'nvdimm' && !this.o.nvdimmEnabled) throw new QmpError('GenericError', "nvdimm is not enabled: missing 'nvdimm' in '-M'");
    if (!d.backends.has(dev.memdev)) throw new QmpError('GenericError', `Property '${dev.driver}.memdev' can't find value '${dev.memdev}'`);
    if (d.busyBackends().has(dev.memdev)) throw new QmpError('GenericError', `can't use already busy memdev: ${dev.memdev}`);
    // QEMU's memory_device_pre_plug: without maxmem there is no device-memory region.
    if (d.region.size === 0) throw new QmpError('GenericError', 'memory devices (e.g. for memory hotplug) are not enabled, please specify the maxmem option');
    const machine = this.o.runner.machine;
    if (dev.driver === 'nvdimm') {
      const n = asQmp(() => d.addNvdimm(nvdimmConfig(dev)));
      try {
        asQmp(() => machine?.plugNvdimm(n));
      } catch (e) {
        d.removeNvdimm(n);
        throw e;
      }
      return;
    }
    const p = asQmp(() => d.addVirtioPmem(virtioPmemConfig(dev)));
    try {
      asQmp(() => machine?.plugVirtioPmem(p));
    } catch (e) {
      d.removeVirtioPmem(p);
      throw e;
    }
  }

  deviceDel(id: string): void {
    const d = this.o.devices;
    const nvdimm = d.nvdimms.find((n) => n.id === id);
    const vpmem = d.virtioPmems.find((v) => v.id === id);
    if (!nvdimm && !vpmem) throw new QmpError('DeviceNotFound', `Device '${id}' not found`);
    if (nvdimm) {
      throw new QmpError('GenericError', `nvdimm device hot unplug is not supported: Linux's nfit driver refuses an NFIT that drops a DIMM ("new nfit deletes entries (unsupported)"); power the guest off to remove '${id}', or use virtio-pmem for memory that must come and go`);
    }
    const machine = this.o.runner.machine;
    // No guest to ask (between boots, or powered off under -no-shutdown): the device just goes.
    if (!machine) { this.unplugged(vpmem!); return; }
    if (!machine.requestUnplug(vpmem!)) throw new QmpError('GenericError', `Device ${id} is already in the process of unplug`);
  }

  /** The guest let go of a virtio-pmem device (its _EJ0) and the machine released it: forget it, tell the clients. */
  unplugged(p: VirtioPmemPlacement): void {
    this.o.devices.removeVirtioPmem(p);
    if (p.id === undefined) return;
    // QEMU sends one for the virtio device inside the PCI function (it has no id), then one for the function.
    this.o.emit('DEVICE_DELETED', { path: `/machine/peripheral/${p.id}/virtio-backend` });
    this.o.emit('DEVICE_DELETED', { device: p.id, path: `/machine/peripheral/${p.id}` });
  }

  private backends(): MemoryBackend[] { return [...this.o.devices.backends.values()]; }

  /** qdev ids of the PCI functions, by slot (the host bridge has none). */
  private pciIds(): Map<number, string> {
    return new Map(this.o.devices.virtioPmems.map((v) => [v.pciSlot, v.id ?? ''] as const));
  }

}
