/**
 * The pc machine: RAM, the PC's legacy devices, ACPI tables, a Linux kernel
 * and the vCPUs, assembled on one KVM VM. One PcMachine lives from power-on
 * to reset or poweroff; a reboot builds a new one (backends persist).
 */
import type { CpuRegisters } from '../kvm/vcpu-registers.js';
import { UserError } from '../errors.js';
import * as libc from '../sys/libc.js';
import { KvmSystem } from '../kvm/system.js';
import { Vm } from '../kvm/vm.js';
import { Vcpus, VcpuStopReason } from '../kvm/vcpus.js';
import type { CpuModel } from '../kvm/cpuid.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { mapBackend } from '../memory/backend-map.js';
import { parseKernel, type KernelImage } from '../boot/kernel-image.js';
import { openImageFile, type ImageFile } from '../boot/image-file.js';
import { loadLinux } from '../boot/load-linux.js';
import { RESET_VECTOR, resetVectorStub } from '../boot/reset-vector.js';
import { ACPI_BASE, ACPI_SIZE, FOUR_GIB, e820Map, flushHintAddress, splitRam } from '../boot/layout.js';
import type { FlushHintTable } from '../kvm/flush-hints.js';
import { IoBus } from '../devices/bus.js';
import { Serial16550, COM1_BASE, COM1_IRQ } from '../devices/serial.js';
import { I8042, I8042_COMMAND_PORT, I8042_DATA_PORT } from '../devices/i8042.js';
import { AcpiPower } from '../devices/power.js';
import { CmosRtc, RTC_BASE, RTC_IRQ } from '../devices/rtc.js';
import { attachQuietPorts } from '../devices/legacy.js';
import { GenericEventDevice } from '../devices/ged.js';
import { GED_EVENT, GED_IRQ, GED_MMIO_BASE, GED_MMIO_SIZE, gedDevice, gedEventMask, nvdimmHotplugEvent, pciHotplugEvent, powerButtonDevice, powerDownEvent } from '../acpi/ged.js';
import { PCIHP_IO_BASE, PCIHP_IO_SIZE, pcHotplugSlots } from '../acpi/pci-hotplug.js';
import { PciHotplugRegisters } from '../devices/pci-hotplug.js';
import { buildAcpi, ACPI_POWER } from '../acpi/build.js';
import { buildNfit, nfitStructures, type NfitOptions } from '../acpi/nfit.js';
import { nvdimmRootDevice } from '../acpi/nvdimm-root.js';
import { DSM_DOORBELL_PORT, DSM_PAGE } from '../acpi/nvdimm-dsm-abi.js';
import { NvdimmDsm, type LabelArea } from '../devices/nvdimm-dsm.js';
import { nfitHandle } from '../acpi/nfit.js';
import { pciHostDevice, type PciHostWindows } from '../acpi/pci-host.js';
import { PciHost, i440fxHostBridge } from '../devices/pci/host-bridge.js';
import { PciConfigShared, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA } from '../kvm/pci-config-fastpath.js';
import { MEM_READONLY } from '../sys/kvm-abi.js';
import { GuestConsole } from './console.js';
import { debug, debugOn } from '../debug.js';
import type { Nvdimm } from './memory-devices.js';
import { attachVirtioPmem, type VirtioPmemHandle, type VirtioPmemPlacement } from './virtio-pmem.js';
import { numaTables, type NumaConfig } from './numa.js';
import { apicIds, type CpuTopology } from '../kvm/cpu-topology.js';
import { compileAtFirstCallFromNowOn, setV8Defaults } from './v8-tiers.js';

export interface MachineConfig {
  ramSize: number;
  cpus: number;
  /** -smp's cores and threads per socket (default: one socket of single-thread cores). */
  topology?: CpuTopology;
  /** -smp maxcpus: the CPUs the firmware tables list, the ones past `cpus` disabled (default: cpus). */
  maxCpus?: number;
  kernel: string;
  initrd?: string;
  cmdline: string;
  /** -cpu host/max: pass through all KVM supports; default: QEMU-like conservative model. */
  cpuModel: CpuModel;
  /** virtio-pmem-pci devices (backends opened and placed by the caller). */
  virtioPmems?: readonly VirtioPmemPlacement[];
  /** End of the device-memory region (-m slots/maxmem): the 64-bit PCI window goes above it. */
  deviceMemoryEnd?: number;
  /** -machine nvdimm=on: the ACPI NVDIMM root device, and these NVDIMMs (backends opened by the caller). */
  nvdimm?: {
    persistence?: 'cpu' | 'mem-ctrl'; dimms: readonly Nvdimm[]; /** -m slots= */ slots: number;
    /** The flush-hint state of the live device set (DIMMs with flush-hint=on); shared with the vCPU threads. */
    flushHints?: FlushHintTable;
  };
  /** A virtio-pmem device left the guest (device_del, then the guest's eject) and pmemvm let it go. */
  onUnplugged?: (p: VirtioPmemPlacement) => void;
  /** QEMU's auto-enabled NUMA node 0 (maxmem above RAM): the guest gets an SRAT. */
  numa?: NumaConfig;
}

/** Who ended a boot, in QEMU's ShutdownCause terms (the SHUTDOWN and RESET events carry it). */
export type ShutdownCause = 'guest-shutdown' | 'guest-reset' | 'host-qmp-quit' | 'host-qmp-system-reset' | 'host-signal' | 'host-ui';

/** How a boot ended. */
export type MachineExit = { kind: 'poweroff'; cause: ShutdownCause } | { kind: 'reset'; cause: ShutdownCause } | { kind: 'error'; message: string };

export class PcMachine {
  readonly vm: Vm;
  readonly memory = new GuestMemory();
  readonly pio = new IoBus('pio');
  readonly mmio = new IoBus('mmio');
  private ram: { addr: bigint; size: number };
  private vcpus: Vcpus;
  /** PCI bus 0 (query-pci). */
  readonly pci: PciHost;
  /** The guest's kvmclock when it was paused, restored when it resumes. */
  private clockAtPause: bigint | null = null;
  private readonly rtc: CmosRtc;
  /** Device threads, ended after the vCPUs. */
  private deviceThreads: VirtioPmemHandle[] = [];
  /** The NVDIMM _DSM/_FIT handler (-machine nvdimm=on). */
  private nvdimmDsm: NvdimmDsm | null = null;
  /** Rebuild the FIT from the NVDIMMs now in the live set (after a hotplug). */
  private refreshFit: () => void = () => {};
  private ended: Promise<MachineExit>;
  private finish!: (e: MachineExit) => void;
  readonly serial: Serial16550;
  /** The ACPI Generic Event Device: the power button (and later hotplug) events. */
  private readonly ged: GenericEventDevice;
  /** ACPI PCI hotplug of bus 0: plug()/requestUnplug(), then pciHotplugNotify(). */
  readonly pciHotplug: PciHotplugRegisters;

  constructor(kvm: KvmSystem, readonly cfg: MachineConfig, console: GuestConsole) {
    debug('building the machine');
    compileAtFirstCallFromNowOn(); // the machine's code, its devices' first of all, in Sparkplug from its first call (v8-tiers.ts)
    this.ended = new Promise((res) => { this.finish = res; });
    // The kernel and initrd first: a file that is not one is refused before any device is
    // attached (an attached virtio-pmem device would keep the process waiting for its service).
    const kernelFile = openImageFile(cfg.kernel, '-kernel');
    let initrd: ImageFile | null = null, kernel: KernelImage;
    try {
      kernel = parseKernel(kernelFile);
      initrd = cfg.initrd ? openImageFile(cfg.initrd, '-initrd') : null;
    } catch (e) {
      kernelFile.close();
      throw e;
    }

    this.vm = new Vm(kvm);
    // Measured in the test host: with polling, an idle guest's QMP round trip took 1.6x QEMU's; without, 1.05x.
    if (!this.vm.disableHaltPolling()) debug('KVM cannot turn off halt polling: the monitor is slower while the guest idles');
    // Guest RAM: anonymous memory, split around the 32-bit PCI hole. 2 MiB aligned and
    // advised for transparent huge pages (mapBackend, as QEMU does): KVM then maps the guest
    // with 2M pages, and under nested virtualization each avoided 4K page fault is an expensive exit.
    const size = cfg.ramSize;
    const { addr } = mapBackend({
      len: size, align: 2 << 20, pageSize: 4096, fd: -1, share: false, readonly: false, mapSync: false, onSyncRefused: () => {},
    });
    this.ram = { addr, size };
    const { low, high } = splitRam(size);
    this.vm.mapMemory(0n, BigInt(low), addr);
    this.memory.add('ram-below-4g', 0, low, addr);
    if (high > 0) {
      this.vm.mapMemory(BigInt(FOUR_GIB), BigInt(high), addr + BigInt(low));
      this.memory.add('ram-above-4g', FOUR_GIB, high, addr + BigInt(low));
    }

    debug('VM and RAM ready');
    // NVDIMMs: their backends mapped straight into the guest (read-only ones
    // as KVM read-only slots, so a stray guest write exits instead of faulting).
    for (const d of cfg.nvdimm?.dimms ?? []) {
      const flags = d.backend.spec.readonly ? MEM_READONLY : 0;
      this.vm.mapMemory(BigInt(d.addr), BigInt(d.size), d.backend.hostAddr, flags);
    }

    // Legacy devices.
    this.serial = new Serial16550({
      // Console output is written out when vCPU 0 next yields to the event loop: at the end of
      // each line, or within a slice for a prompt.
      output: (b) => { console.write(b); if (b === 0x0a) this.vcpus?.requestYield(); },
      setIrq: (level) => this.vm.setIrqLine(COM1_IRQ, level),
      onRxDrained: () => console.pump(),
    });
    console.attachInput((bytes) => this.serial.receive(bytes), () => this.serial.receiveBreak());
    this.pio.register(COM1_BASE, 8, this.serial, 'serial0');
    if (debugOn) {
      this.pio.onUnmapped = (kind, addr, size, value) =>
        debug(`unmapped port ${kind} 0x${addr.toString(16)}/${size}${value === undefined ? '' : ' = 0x' + value.toString(16)}`);
    }
    const i8042 = new I8042({ onReset: () => this.end({ kind: 'reset', cause: 'guest-reset' }) });
    this.pio.register(I8042_DATA_PORT, 1, i8042.dataPort, 'i8042-data');
    this.pio.register(I8042_COMMAND_PORT, 1, i8042.commandPort, 'i8042-cmd');
    const power = new AcpiPower({
      ...ACPI_POWER,
      onPoweroff: () => this.end({ kind: 'poweroff', cause: 'guest-shutdown' }),
      onReset: () => this.end({ kind: 'reset', cause: 'guest-reset' }),
    });
    this.pio.register(ACPI_POWER.sleepControlPort, 1, power.sleepControl, 'acpi-sleep-control');
    this.pio.register(ACPI_POWER.sleepStatusPort, 1, power.sleepStatus, 'acpi-sleep-status');
    this.pio.register(ACPI_POWER.resetPort, 1, power.reset, 'acpi-reset');
    this.rtc = new CmosRtc({ setIrq: (level) => this.vm.setIrqLine(RTC_IRQ, level) });
    this.pio.register(RTC_BASE, 2, this.rtc, 'rtc');
    attachQuietPorts(this.pio); // legacy ports Linux probes: absent, silently
    // NVDIMM hotplug needs the root device's _FIT, which exists when there are memory slots.
    const gedEvents = [powerDownEvent, pciHotplugEvent, ...(cfg.nvdimm && cfg.nvdimm.slots > 0 ? [nvdimmHotplugEvent] : [])];
    this.ged = new GenericEventDevice({ supported: gedEventMask(gedEvents), setIrq: (level) => this.vm.setIrqLine(GED_IRQ, level) });
    this.mmio.register(GED_MMIO_BASE, GED_MMIO_SIZE, this.ged, 'acpi-ged');
    // PCI: the host bridge at 00:00.0; config accesses to absent functions stay in the vCPU threads.
    const pciShared = new PciConfigShared();
    const pci = this.pci = new PciHost({
      current: () => Atomics.load(pciShared.latch, 0) >>> 0,
      setPresent: (bus, dev, on) => pciShared.setPresent(bus, dev, on),
    });
    pci.add(0, 0, i440fxHostBridge());
    this.pio.register(PCI_CONFIG_DATA, 4, pci, 'pci-config-data');
    // Linux scans every bus/slot at boot (twice over 256 buses for the AMD GART aperture
    // on family 0Fh CPUs): ~16K CF8 writes. Coalesced, KVM completes them without a
    // round trip to user space; the vCPU threads apply them before the next exit they handle.
    this.vm.coalescePio(PCI_CONFIG_ADDRESS, 4);
    for (const p of cfg.virtioPmems ?? []) this.attachVirtioPmem(p);
    const hotplugSlots = pcHotplugSlots(cfg.virtioPmems?.map((p) => p.pciSlot));
    this.pciHotplug = new PciHotplugRegisters({
      slots: hotplugSlots,
      onEject: (slot) => { void this.ejected(slot); },
      onRefusedEject: (slot) => debug(`pci hotplug: the guest ejected slot ${slot}, which the host did not unplug: ignored`),
    });
    this.pio.register(PCIHP_IO_BASE, PCIHP_IO_SIZE, this.pciHotplug, 'acpi-pci-hotplug');
    if (cfg.nvdimm) {
      const dimms = new Map(cfg.nvdimm.dimms.map((d) => [nfitHandle(d.slot), labelArea(d)] as const));
      // The FIT follows the live device set (cfg.nvdimm.dimms grows with hotplug); rebuilt only when it changes.
      const nv = cfg.nvdimm;
      let fit = nfitStructures(nfitOptions(nv));
      this.refreshFit = () => { fit = nfitStructures(nfitOptions(nv)); };
      const dsm = this.nvdimmDsm = new NvdimmDsm({
        memory: this.memory,
        dimms,
        fit: () => fit,
        onReject: (why) => debug(`nvdimm _DSM: ${why}`),
        onFitRead: (offset, status, bytes) => debug(`nvdimm _FIT: read at ${offset}: status 0x${status.toString(16)}, ${bytes} bytes of ${fit.length}`),
      });
      this.pio.register(DSM_DOORBELL_PORT, 4, dsm, 'nvdimm-dsm');
    }

    debug('devices attached');
    // Firmware tables and the kernel.
    const nv = nvdimmAcpi(cfg.nvdimm);
    const dsdtDevices = [powerButtonDevice(), gedDevice({ events: gedEvents }), pciHostDevice({ ...pciWindows(cfg), hotplugSlots }), ...(nv.dsdtDevices ?? [])];
    const topology = cfg.topology ?? { cores: cfg.cpus, threads: 1 };
    // Every possible CPU, as QEMU lists them: the MADT enables the present ones, the SRAT places all.
    const cpuApicIds = apicIds(topology, Math.max(cfg.maxCpus ?? cfg.cpus, cfg.cpus));
    const srat = numaTables({ numa: cfg.numa, ramSize: size, apicIds: cpuApicIds, nvdimms: cfg.nvdimm?.dimms ?? [] });
    // The IOAPIC's id follows the CPUs' (their ids and its share one 8-bit space on the APIC bus).
    const ioapicId = Math.max(...cpuApicIds) + 1;
    const acpi = buildAcpi({ cpus: cpuApicIds.length, apicIds: cpuApicIds, present: cfg.cpus, ioapicId, dsdtDevices, extraTables: [...srat, ...(nv.extraTables ?? [])] }, ACPI_BASE);
    const acpiRoom = Math.min(ACPI_SIZE, DSM_PAGE - ACPI_BASE); // the NVDIMM _DSM page follows the tables
    if (acpi.image.length > acpiRoom) throw new Error(`ACPI tables are ${acpi.image.length} bytes, over the ${acpiRoom} reserved`);
    this.memory.write(ACPI_BASE, acpi.image);
    this.memory.write(RESET_VECTOR, resetVectorStub(ACPI_POWER.resetPort, ACPI_POWER.resetValue));
    debug('ACPI tables built');
    let regs;
    try {
      regs = loadLinux(this.memory, {
        kernel, initrd, cmdline: cfg.cmdline, ramSize: size, rsdpAddr: acpi.rsdpAddress, e820: e820Map(size),
        ramIsZero: true, // mapped above for this machine; a reboot builds another
      });
    } catch (e) {
      this.abandon(); // e.g. a kernel too big for -m: no machine, so nothing else will end it
      throw e;
    } finally {
      kernelFile.close();
      initrd?.close();
    }

    debug('ACPI tables and kernel loaded');
    this.vcpus = new Vcpus(this.vm, cfg.cpus, topology, kvm.supportedCpuid(), regs, { pio: this.pio, mmio: this.mmio }, cfg.cpuModel, [0x80], pciShared,
      cfg.nvdimm?.flushHints?.sab);
    this.vcpus.onStop = (why) => this.end(vcpuExit(why));
    this.vcpus.onFlushError = (slot, errno) => {
      const d = cfg.nvdimm?.dimms.find((x) => x.slot === slot);
      const what = d ? `nvdimm '${d.name}': fdatasync of memdev '${d.backend.id}'${d.backend.spec.memPath ? ` (${d.backend.spec.memPath})` : ''}` : `flush hint of slot ${slot}`;
      process.stderr.write(`pmemvm: error: ${what} failed: ${libc.errnoName(errno)}; what the guest flushed may be lost, and the device is no longer crash-safe\n`);
    };
    debug('vCPUs created');
  }

  end(e: MachineExit): void {
    debug(`machine end: ${JSON.stringify(e)}`);
    this.vcpus?.halt(); // vCPU 0 may be running on this thread: it returns to the event loop now
    this.rtc.close(); // no RTC interrupt after this: the VM is about to go
    this.finish(e);
  }

  /**
   * Where the guest is, for a person chasing a stuck guest: every vCPU (see
   * vcpu-state.ts), the IOAPIC pins the guest uses, and the devices that
   * raise interrupts. Lines of text; nothing in the guest changes.
   */
  async describe(): Promise<string[]> {
    const lines = await this.vcpus.describe();
    try {
      const pins = this.vm.ioapicPins().filter((p) => !p.masked || p.pending || p.remoteIrr);
      lines.push(`ioapic: ${pins.map((p) => `pin ${p.pin}->0x${p.vector.toString(16)}${p.level ? ' level' : ' edge'}${p.masked ? ' masked' : ''}${p.pending ? ' pending' : ''}${p.remoteIrr ? ' remote-irr' : ''}`).join('; ') || 'no pin in use'}`);
    } catch (e) {
      lines.push(`ioapic: unreadable: ${(e as Error).message}`);
    }
    lines.push(`serial0 (irq ${COM1_IRQ}): ${this.serial.describe()}`);
    lines.push(`rtc (irq ${RTC_IRQ}): ${this.rtc.describe()}`);
    lines.push(`acpi-ged (gsi ${GED_IRQ}): ${this.ged.describe()}`);
    lines.push(`acpi-pci-hotplug: ${this.pciHotplug.describe()}`);
    if (this.nvdimmDsm) lines.push(`nvdimm-dsm: ${this.nvdimmDsm.describe()}`);
    lines.push(`kvm: ${this.vm.slotsInUse} memory slots in use`);
    for (const d of this.deviceThreads) lines.push(d.describe());
    return lines;
  }

  /**
   * Press the ACPI power button (QMP system_powerdown): the guest's _EVT notifies
   * \_SB.PWRB and Linux's button driver reports KEY_POWER; what happens next is up
   * to the guest (systemd-logind or acpid powers off; a guest without the button
   * driver ignores it, as it would on QEMU).
   */
  powerButton(): void {
    this.ged.trigger(GED_EVENT.POWER_DOWN);
  }

  /** Raise the GED's PCI-hotplug event: the guest's PCNT reads what pciHotplug holds. */
  pciHotplugNotify(): void {
    this.ged.trigger(GED_EVENT.PCI_HOTPLUG);
  }

  private attachVirtioPmem(p: VirtioPmemPlacement): void {
    this.deviceThreads.push(attachVirtioPmem(p, {
      vm: this.vm, pci: this.pci, mmio: this.mmio, memory: this.memory,
      mapMemory: (gpa, len, host, ro) => this.vm.mapMemory(BigInt(gpa), BigInt(len), host, ro ? MEM_READONLY : 0),
      onFatal: (message) => this.end({ kind: 'error', message }),
      oneVcpu: this.cfg.cpus === 1,
    }));
  }

  /**
   * Hot-add an NVDIMM that the live device set has placed: its memory goes into
   * the guest, the _DSM answers for its handle, and the GED tells the guest's
   * nfit driver to read _FIT again, which now lists it.
   */
  plugNvdimm(d: Nvdimm): void {
    const dsm = this.nvdimmDsm;
    if (!dsm) throw new Error('NVDIMM hotplug without an NVDIMM root device');
    const slot = this.vm.mapMemory(BigInt(d.addr), BigInt(d.size), d.backend.hostAddr, d.backend.spec.readonly ? MEM_READONLY : 0);
    try {
      dsm.addDimm(nfitHandle(d.slot), labelArea(d));
    } catch (e) {
      this.vm.releaseSlot(slot);
      throw e;
    }
    this.refreshFit();
    dsm.fitChanged();
    this.ged.trigger(GED_EVENT.NVDIMM_HOTPLUG);
  }

  /** Hot-add a virtio-pmem-pci device: its PCI function, BAR, memory and thread, then the guest's acpiphp scans the slot. */
  plugVirtioPmem(p: VirtioPmemPlacement): void {
    if (!this.pciHotplug.hotpluggable(p.pciSlot)) {
      throw new UserError(`virtio-pmem '${p.name}': PCI slot ${p.pciSlot} cannot take a device while the guest runs (as on QEMU's pc, slot 1 holds the ISA bridge); pick addr= from 2 to 31`);
    }
    this.attachVirtioPmem(p);
    this.pciHotplug.plug(p.pciSlot);
    this.pciHotplugNotify();
  }

  /**
   * device_del of a virtio-pmem device: ask the guest to let it go (ACPI eject
   * request). The device leaves when the guest's _EJ0 says so; a guest that
   * ignores the request keeps it. False if a request is already pending.
   */
  requestUnplug(p: VirtioPmemPlacement): boolean {
    if (this.pciHotplug.unplugPending(p.pciSlot)) return false;
    this.pciHotplug.requestUnplug(p.pciSlot);
    this.pciHotplugNotify();
    return true;
  }

  /** The guest's _EJ0 for a slot we asked it to eject (the registers refuse others): release the device, then tell the owner of the device set. */
  private async ejected(pciSlot: number): Promise<void> {
    const i = this.deviceThreads.findIndex((h) => h.placement.pciSlot === pciSlot);
    if (i < 0) return;
    const [h] = this.deviceThreads.splice(i, 1);
    await h!.detach();
    this.cfg.onUnplugged?.(h!.placement);
  }

  /** Host thread ids of the vCPUs (vCPU 0: the main thread). */
  vcpuThreadIds(): (number | undefined)[] { return this.vcpus.threadIds(); }
  /** Each vCPU's registers (info registers), or why they could not be read. */
  vcpuRegisters(): Promise<(CpuRegisters | string)[]> { return this.vcpus.registers(); }

  /**
   * Stop every vCPU (the monitor's 'stop'). The guest's clock stops with it, as
   * on QEMU: after 'cont' it sees no time pass. Device threads finish the
   * request in hand; no new one can come while no vCPU runs.
   */
  async pause(): Promise<void> {
    if (this.vcpus.paused) return;
    await this.vcpus.pause();
    this.clockAtPause = this.vm.clock();
  }

  resume(): void {
    if (!this.vcpus.paused) return;
    if (this.clockAtPause !== null) this.vm.setClock(this.clockAtPause);
    this.clockAtPause = null;
    this.vcpus.resume();
  }

  /** Run until the guest powers off, resets or fails; then stop every vCPU. `paused`: start with the vCPUs paused (-S, or after a reset while paused). */
  async run(opts: { paused?: boolean } = {}): Promise<MachineExit> {
    debug('machine built, starting the vCPU threads');
    if (opts.paused) await this.pause();
    this.vcpus.start(setV8Defaults); // Node's code caches for the workers' start (v8-tiers.ts)
    const e = await this.ended;
    await this.vcpus.stop();
    await Promise.all(this.deviceThreads.map((d) => d.stop()));
    // As QEMU, a reset completes the unplugs the guest had not answered: those devices are not in the next boot.
    for (const slot of this.pciHotplug.pendingUnplugs()) {
      const h = this.deviceThreads.find((d) => d.placement.pciSlot === slot);
      if (h) this.cfg.onUnplugged?.(h.placement);
    }
    return e;
  }

  /** A machine that failed to build: end its devices' service, then release what it holds. */
  private abandon(): void {
    this.rtc.close();
    void Promise.all(this.deviceThreads.map((d) => d.stop())).finally(() => this.destroy());
  }

  /** Release the VM and its RAM. Guest memory views are dead after this. */
  destroy(): void {
    this.vm.close();
    for (const d of this.deviceThreads) d.destroy();
    libc.munmap(this.ram.addr, this.ram.size);
  }
}

/** PCI windows as QEMU's pc lays them out: the 32-bit hole above low RAM, a 64-bit one above everything. */
function pciWindows(cfg: MachineConfig): PciHostWindows {
  const GIB = 2 ** 30;
  const { low, high } = splitRam(cfg.ramSize);
  const above = Math.max(FOUR_GIB + high, cfg.deviceMemoryEnd ?? 0);
  return {
    mmio32: { base: low, end: 0xfebfffff },
    mmio64: { base: BigInt(Math.ceil(above / GIB) * GIB), size: 32n * BigInt(GIB) },
  };
}

/** The NFIT's contents for these NVDIMMs. */
function nfitOptions(n: NonNullable<MachineConfig['nvdimm']>): NfitOptions {
  const dimms = n.dimms.map((d) => ({ slot: d.slot, base: d.addr, size: d.size, unarmed: d.unarmed, ...(d.flushHint ? { flushHint: flushHintAddress(d.slot) } : {}) }));
  return n.persistence ? { dimms, persistence: n.persistence } : { dimms };
}

/**
 * The NVDIMM root device in the DSDT, and an NFIT when there are NVDIMMs (QEMU builds none without).
 * QEMU 7.2 builds neither without memory slots: no NVDIMM can be plugged then.
 */
function nvdimmAcpi(n: MachineConfig['nvdimm']): { dsdtDevices?: Uint8Array[]; extraTables?: Uint8Array[] } {
  if (!n || n.slots === 0) return {};
  const acpiDimms = n.dimms.map((d) => ({ slot: d.slot, labels: d.labelSize > 0, writable: !d.backend.spec.readonly }));
  return {
    dsdtDevices: [nvdimmRootDevice({ slots: n.slots, dimms: acpiDimms })],
    extraTables: n.dimms.length ? [buildNfit(nfitOptions(n))] : [],
  };
}

/** The label area at the end of an NVDIMM's backend, as the _DSM handler uses it. */
function labelArea(d: Nvdimm): LabelArea | null {
  if (d.labelSize === 0) return null;
  const b = d.backend;
  return {
    size: d.labelSize,
    writable: !b.spec.readonly,
    read: (offset, len) => b.view(d.labelOffset + offset, len).slice(),
    write: (offset, data) => {
      b.view(d.labelOffset + offset, data.length).set(data);
      // pmem=on promises durability: the label is on the media before _LSW returns.
      if (b.spec.pmem) b.flush(d.labelOffset + offset, data.length);
    },
  };
}

function vcpuExit(why: VcpuStopReason): MachineExit {
  switch (why.kind) {
    case 'shutdown': return { kind: 'reset', cause: 'guest-reset' }; // triple fault resets a PC
    case 'system-event': return why.event === 1 ? { kind: 'poweroff', cause: 'guest-shutdown' } : { kind: 'reset', cause: 'guest-reset' };
    case 'fatal': return { kind: 'error', message: why.message };
  }
}
