/**
 * pmemvm's command line: QEMU syntax in, a running guest out. User mistakes
 * end here as one line `pmemvm: <what is wrong and how to fix it>`, exit 1.
 */
import { writeFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { debug } from '../debug.js';
import { parseArgs, HELP_TEXT, VERSION_TEXT, type VmOptions } from './options.js';
import { validateOptions } from './validate.js';
import { sizeToNumber } from './size.js';
import { hardwareVirtProblem, TEST_HOST_HINT } from '../kvm/system.js';
import { MachineRunner, hookSignals, runMachine } from '../machine/run.js';
import { openConsole, type ConsoleSpec } from '../machine/console.js';
import { MonitorControl } from '../machine/monitor-control.js';
import { startMonitors, type MonitorEndpoint, type RunMonitors } from '../machine/monitors.js';
import type { ChardevInfo } from '../monitor/machine-control.js';
import { connectedFilename, disconnectedFilename, exposedMonitorWarning, resolveChardevs, resolveMonitors, serialChardev } from './monitors.js';
import { MemoryDevices, type MemoryDevicesConfig } from '../machine/memory-devices.js';
import { checkDeviceIoChoice, pmemIo } from '../devices/virtio/pmem-io.js';
import { Vcpus } from '../kvm/vcpus.js';
import type { VirtioPmemPlacement } from '../machine/virtio-pmem.js';
import { parseMemoryBackend } from './backends.js';
import { autoNuma } from '../machine/numa.js';
import { imgMain } from './img.js';
import { lowerV8ThreadPriority } from '../machine/v8-threads.js';
import { sparkplugInBatchesFromNowOn } from '../machine/v8-tiers.js';
import { parseDevice, type NvdimmDevice, type VirtioPmemDevice } from './devices.js';
import { nvdimmConfig, virtioPmemConfig } from './device-config.js';

function consoleFrom(o: VmOptions): ConsoleSpec {
  const s = o.serials[0];
  if (!s) return { kind: 'stdio', muxEscape: false }; // no display: the console is the terminal
  switch (s.kind) {
    case 'stdio': return { kind: 'stdio', muxEscape: s.withMonitor };
    case 'file': return { kind: 'file', path: s.path };
    case 'null': case 'none': return { kind: 'null' };
    case 'chardev': throw new UserError(`-serial chardev:${s.id}: chardev-backed serial ports are not supported yet; use -serial stdio or -serial file:PATH`);
  }
}

async function main(argv: string[]): Promise<number> {
  debug('command line parsing');
  if (argv[0] === 'img') {
    sparkplugInBatchesFromNowOn();
    return imgMain(argv.slice(1));
  }
  const o = parseArgs(argv);
  if (o.action === 'help') { process.stdout.write(HELP_TEXT + '\n'); return 0; }
  if (o.action === 'version') { process.stdout.write(VERSION_TEXT + '\n'); return 0; }
  validateOptions(o);
  if (o.action === 'durability-report') return durabilityReport(o);
  if (!o.kernel) {
    throw new UserError('no -kernel given: pmemvm has no BIOS and boots Linux directly; use -kernel bzImage (or vmlinux) [-initrd FILE] [-append CMDLINE]');
  }
  debug(`V8's background threads lowered to nice 19: ${lowerV8ThreadPriority()}`);
  const problem = hardwareVirtProblem();
  if (problem && process.env.PMEMVM_ALLOW_SLOW_KVM !== '1') {
    throw new UserError(`${problem}, so a guest would crawl; ${TEST_HOST_HINT} (or set PMEMVM_ALLOW_SLOW_KVM=1 to try anyway)`);
  }
  checkDeviceIoChoice();
  Vcpus.sliceMs(); // a bad PMEMVM_SLICE_MS is refused before any backend is opened
  // Backends are opened (and every file check made) before anything else happens.
  const devices = MemoryDevices.open(memoryDevicesConfig(o));
  try {
    for (const line of devices.durabilityLines()) process.stderr.write(`pmemvm: ${line}\n`);
    if (o.pidfile) writeFileSync(o.pidfile, `${process.pid}\n`);
    const consoleSpec = consoleFrom(o);
    const console = openConsole(consoleSpec);
    const ramSize = sizeToNumber(o.memory.size, '-m');
    let emit: (event: string, data?: Record<string, unknown>) => void = () => {};
    const runOptions = {
      machine: {
        ramSize,
        cpus: o.smp.cpus,
        topology: { cores: o.smp.cores, threads: o.smp.threads },
        maxCpus: o.smp.maxcpus,
        kernel: o.kernel,
        initrd: o.initrd,
        cmdline: o.append ?? '',
        cpuModel: o.cpu === undefined ? 'default' as const : 'host' as const,
        deviceMemoryEnd: devices.region.base + devices.region.size,
        numa: autoNuma(devices.region),
        virtioPmems: devices.virtioPmems,
        ...(o.machine.nvdimm ? { nvdimm: { persistence: o.machine.nvdimmPersistence, dimms: devices.nvdimms, slots: o.memory.slots, flushHints: devices.flushHints } } : {}),
        // The live device set (its arrays above change with hotplug) forgets a device the guest ejected.
        onUnplugged: (p: VirtioPmemPlacement) => control.unplugged(p),
      },
      console,
      noReboot: o.noReboot,
      noShutdown: o.noShutdown,
      startPaused: o.startPaused,
      emit: (event: string, data?: Record<string, unknown>) => emit(event, data),
    };
    const runner = new MachineRunner(runOptions);
    const resolved = resolveMonitors(o);
    const endpoints = resolved.map((m): MonitorEndpoint => ({ protocol: m.protocol, where: m.where, wait: m.wait, mux: m.mux }));
    const control = new MonitorControl({
      runner, devices, ramSize, smp: o.smp, name: o.name, nvdimmEnabled: o.machine.nvdimm, chardevs: () => chardevList(o, monitors),
      serialLabels: () => { const l = serialChardev(o, 0)?.label; return l === undefined ? [] : [l, `${l}-base`]; },
      sendBreak: () => console.sendBreak(),
      emit: (event, data) => emit(event, data),
    });
    const unhookSignals = hookSignals(runOptions, runner);
    let monitors: RunMonitors;
    try {
      monitors = await startMonitors(endpoints, control, console);
    } catch (e) {
      unhookSignals();
      throw e;
    }
    // Said once the port is bound: tcp:0.0.0.0:0 learns its port only then.
    const bound = monitors.sockets();
    resolved.forEach((m, i) => {
      const s = bound[i];
      const text = s?.where.kind === 'tcp' ? exposedMonitorWarning(m.source, s.where.host, s.where.port) : undefined;
      if (text) process.stderr.write(`pmemvm: warning: ${text}\n`);
    });
    emit = (event, data) => monitors.hub.emit(event, data);
    // A monitor that can hot-add a virtio-pmem device (maxmem leaves room): device I/O is ready before the first device_add.
    if (endpoints.length > 0 && devices.region.size > 0) pmemIo().prestart();
    try {
      return await runMachine(runner, monitors.ready);
    } finally {
      unhookSignals();
      await monitors.close();
      console.close();
    }
  } finally {
    devices.close();
  }
}

/**
 * query-chardev: QEMU's labels and filenames, a socket monitor's filename in its
 * connected form while a client is served ("unix:PATH,server=on", "tcp:H:P,server=on <-> PEER").
 */
function chardevList(o: VmOptions, monitors: RunMonitors): ChardevInfo[] {
  const list = resolveChardevs(o).map((c) => ({ ...c, frontendOpen: true }));
  const labels = resolveMonitors(o).map((m) => m.label);
  monitors.sockets().forEach((s, i) => {
    if (!s) return;
    const entry = list.find((c) => c.label === labels[i]);
    if (!entry) return;
    entry.filename = s.client ? connectedFilename(s.where, s.client === 'unix' ? undefined : s.client) : disconnectedFilename(s.where);
  });
  return list;
}

/** -durability-report: the start-up lines' facts for programs; no KVM, no guest. */
function durabilityReport(o: VmOptions): number {
  const devices = MemoryDevices.open(memoryDevicesConfig(o));
  try {
    process.stdout.write(JSON.stringify(devices.durabilityReport(), null, 2) + '\n');
  } finally {
    devices.close();
  }
  return 0;
}

function memoryDevicesConfig(o: VmOptions): MemoryDevicesConfig {
  const backends = o.objects.map((obj) => {
    const b = parseMemoryBackend(obj);
    return {
      id: b.id, kind: b.kind, size: b.size, memPath: b.memPath, share: b.share, align: b.align,
      pmem: b.pmem, readonly: b.readonly, discardData: b.discardData, prealloc: b.prealloc,
    };
  });
  const nvdimms = o.devices.map(parseDevice).filter((d): d is NvdimmDevice => d.driver === 'nvdimm').map(nvdimmConfig);
  const virtioPmems = o.devices.map(parseDevice).filter((d): d is VirtioPmemDevice => d.driver === 'virtio-pmem-pci').map(virtioPmemConfig);
  return {
    virtioPmems,
    ramSize: sizeToNumber(o.memory.size, '-m'),
    slots: o.memory.slots,
    maxmem: o.memory.maxmem === undefined ? undefined : sizeToNumber(o.memory.maxmem, 'maxmem'),
    backends,
    nvdimms,
  };
}

// A promise chain, not a top-level await: the bundle is CommonJS (bin/pmemvm.cjs says why).
main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  if (!(e instanceof UserError)) throw e; // a bug: Node prints it with its stack and exits 1
  process.stderr.write(`pmemvm: ${e.message}\n`);
  process.exitCode = 1;
});
