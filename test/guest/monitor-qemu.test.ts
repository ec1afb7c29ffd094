// The same QMP exchange against pmemvm and against QEMU 7.2 (-accel kvm) in the same host,
// with the same guest and devices (an NVDIMM and a virtio-pmem device), compared reply by
// reply in shape: keys, JSON types, error classes and texts, and values wherever they are
// fixed. Each VMM boots once; every exchange runs in that boot.
//
// Where pmemvm differs from QEMU, and why (DIFFERENCES below is the same table as data,
// printed when a comparison fails):
//
// | reply                                   | QEMU 7.2                                   | pmemvm                                        | why |
// |-----------------------------------------|--------------------------------------------|-----------------------------------------------|-----|
// | query-version qemu.micro, package       | 22, "Debian 1:7.2+dfsg-..."                | 0, "pmemvm <version>"                         | pmemvm speaks 7.2's protocol; the package names the VMM (type only) |
// | query-cpus-fast thread-id               | QEMU's vCPU threads                        | pmemvm's (vCPU 0: its main thread)            | host thread ids (type only) |
// | query-cpus-fast qom-path                | /machine/unattached/device[0], [2]         | /machine/unattached/device[0], [1]            | QEMU's QOM numbering counts objects pmemvm does not have (type only) |
// | query-memory-devices addr / memaddr     | aligned to the backend (4 KiB for a file)  | on 2 MiB boundaries (checked)                 | README "Placement": a misaligned device is refused by Linux (type only; equal here) |
// | query-memdev order                      | its /objects hash table's order            | pc.ram, then the command line's order         | compared sorted by id |
// | query-pci functions                     | 00.0 host, 01.0 ISA, 01.1 IDE, 01.3 ACPI   | 00.0 host bridge only                         | pmemvm has no PIIX3/PIIX4 functions: only the host bridge and vp0 are compared |
// | query-pci vp0 BAR 4 size                | 16 KiB (no MSI-X)                          | 32 KiB (MSI-X table and PBA in BAR 4)         | pmemvm's virtio-pmem uses MSI-X (type only) |
// | query-pci vp0 irq, BAR addresses, slot  | irq 10, BAR below 4G                       | irq 0 (the guest uses MSI-X), BAR above 4G    | topology and the guest's choices (type only) |
// | query-chardev                           | serial0 "stdio", compat_monitor0           | the same                                      | filenames compared with the private directory replaced by DIR |
// | query-commands                          | ~200 commands                              | a subset, plus x-pmemvm-query-durability      | pmemvm serves what it has; the x- command is its own |
// | event timestamps                        | wall clock                                 | wall clock                                    | type only |
// | info registers                          | values; YMM00-15 if -cpu host has AVX      | values; XMM00-15 (default CPU model, no AVX)  | XCR0 decides the width: values masked, vectors by presence, halted vCPUs' RIP compared |
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startVmm, type RunningVmm } from '../lib/vmm.js';
import { sparseFile } from '../lib/files.js';
import { QmpCommandError, type QmpEvent } from '../../src/monitor/client.js';
import { DURABILITY_COMMAND } from '../../src/monitor/commands.js';

const TICKER = 'i=0; while true; do echo "TICK $i"; i=$((i+1)); sleep 0.1; done';

/** Same guest, same devices; files and sockets in the VMM's private directory (the test host's /tmp). */
const vmArgs = (dir: string) => [
  '-machine', 'pc,nvdimm=on', '-m', '512M,slots=4,maxmem=4G', '-smp', '2', '-name', 'g',
  '-object', `memory-backend-file,id=mem0,share=on,mem-path=${sparseFile(join(dir, 'nv.img'), 128 << 20)},size=128M`,
  '-device', 'nvdimm,id=nv0,memdev=mem0',
  '-object', `memory-backend-file,id=mem1,share=on,mem-path=${sparseFile(join(dir, 'vp.img'), 64 << 20)},size=64M`,
  '-device', 'virtio-pmem-pci,id=vp0,memdev=mem1',
];

/** One row of the differences table. */
interface Difference { where: string; qemu: string; pmemvm: string; why: string }

const DIFFERENCES: Difference[] = [
  { where: 'query-version.qemu.micro, .package', qemu: '22, "Debian 1:7.2+dfsg-..."', pmemvm: '0, "pmemvm <version>"', why: "pmemvm speaks 7.2's protocol; the package names the VMM (type only)" },
  { where: 'query-cpus-fast[].thread-id', qemu: "QEMU's vCPU threads", pmemvm: "pmemvm's (vCPU 0: its main thread)", why: 'host thread ids (type only)' },
  { where: 'query-cpus-fast[].qom-path', qemu: 'device[0], device[2]', pmemvm: 'device[0], device[1]', why: "QEMU's QOM numbering counts objects pmemvm lacks (type only)" },
  { where: 'query-memory-devices[].data.addr/.memaddr', qemu: 'aligned to the backend', pmemvm: '2 MiB boundaries', why: 'README "Placement" (type only; pmemvm checked to be 2 MiB aligned)' },
  { where: 'query-memdev order', qemu: 'its hash table order', pmemvm: 'pc.ram, then the command line order', why: 'compared sorted by id' },
  { where: 'query-pci functions', qemu: 'host, ISA, IDE, ACPI (PIIX3/4), virtio-pmem', pmemvm: 'host bridge, virtio-pmem', why: 'no PIIX3/PIIX4 functions in pmemvm: only the host bridge and vp0 are compared' },
  { where: 'query-pci vp0 regions[].size', qemu: '16 KiB, no MSI-X', pmemvm: '32 KiB with the MSI-X table and PBA', why: "pmemvm's virtio-pmem uses MSI-X (type only)" },
  { where: 'query-pci vp0 slot, irq, regions[].address', qemu: 'irq 10, BAR below 4G', pmemvm: 'irq 0 (MSI-X), BAR above 4G', why: "topology and the guest's choices (type only)" },
  { where: 'query-commands', qemu: '~200 commands', pmemvm: 'a subset plus ' + DURABILITY_COMMAND, why: "pmemvm serves what it has; the x- command is pmemvm's own" },
  { where: 'query-chardev[].filename', qemu: 'paths in its private dir', pmemvm: 'paths in its private dir', why: 'the private directory is replaced by DIR' },
  { where: 'events .timestamp', qemu: 'wall clock', pmemvm: 'wall clock', why: 'type only' },
  { where: 'info registers values, vector lines', qemu: "the guest's; YMM00-15 when -cpu host has AVX", pmemvm: "the guest's; XMM00-15 (its default CPU model has no AVX)", why: "the guest's XCR0 decides the vector width, as in QEMU: lines compared with values masked, vectors by presence; the halted vCPUs' RIP by value" },
];

/** Paths whose values are compared by JSON type only. */
const TYPE_ONLY: RegExp[] = [
  /^query-version\.return\.qemu\.micro$/, /^query-version\.return\.package$/,
  /^query-cpus-fast\.return\[\d+\]\.(thread-id|qom-path)$/,
  /^query-memory-devices\.return\[\d+\]\.data\.(addr|memaddr)$/,
  /^query-pci\.return\.vp0\.(slot|irq)$/, /^query-pci\.return\.vp0\.regions\[\d+\]\.(address|size)$/,
  /^events\[\d+\]\.timestamp\.(seconds|microseconds)$/,
];

type Reply = { return: unknown } | { error: { class: string; desc: string } };

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) return 'array';
  return typeof v; // string, boolean, object
}

/** Differences between two replies at `path`: keys, types, and values outside TYPE_ONLY. */
function compare(path: string, p: unknown, q: unknown, out: string[]): void {
  const tp = jsonType(p), tq = jsonType(q);
  if (tp !== tq) { out.push(`${path}: pmemvm ${tp} ${show(p)}, QEMU ${tq} ${show(q)}`); return; }
  if (tp === 'array') {
    const a = p as unknown[], b = q as unknown[];
    if (a.length !== b.length) out.push(`${path}: pmemvm ${a.length} elements, QEMU ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) compare(`${path}[${i}]`, a[i], b[i], out);
    return;
  }
  if (tp === 'object') {
    const a = p as Record<string, unknown>, b = q as Record<string, unknown>;
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    for (const k of ka) if (!(k in b)) out.push(`${path}.${k}: only pmemvm has it (${show(a[k])})`);
    for (const k of kb) if (!(k in a)) out.push(`${path}.${k}: only QEMU has it (${show(b[k])})`);
    for (const k of ka) if (k in b) compare(path ? `${path}.${k}` : k, a[k], b[k], out);
    return;
  }
  if (TYPE_ONLY.some((re) => re.test(path))) return;
  if (p !== q) out.push(`${path}: pmemvm ${show(p)}, QEMU ${show(q)}`);
}

const show = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

/**
 * info registers' text with each value masked, and the vector register lines reduced to whether
 * there are any. A segment line's decoded descriptor is the guest's too (a kernel's SS may be null
 * after an interrupt from user space): only its fields are compared (the decoding is checked
 * byte for byte against QEMU's own text by the unit tests).
 */
function registersShape(text: string): string[] {
  const lines = text.split('\r\n').map((l) => l.replace(/^((?:[A-Z]{2} |LDT|TR )=[0-9a-f]{4} [0-9a-f]+ [0-9a-f]{8} [0-9a-f]{8}).*$/, '$1')
    .replace(/=[0-9a-f]+/g, '=x').replace(/ [0-9a-f]{4,16}(?= |$)/g, ' x').replace(/ \[[-DOSZAPC]{7}\] /, ' [flags] '));
  const vectors = lines.filter((l) => /^(XMM|YMM|ZMM)/.test(l)).length;
  return [...lines.filter((l) => !/^(XMM|YMM|ZMM)/.test(l)), `vector register lines: ${vectors ? 'some' : 'none'}`];
}

/** The distinct RIPs of the vCPUs that info registers shows halted. */
function haltedRips(text: string): string[] {
  return [...new Set([...text.matchAll(/^RIP=([0-9a-f]+) .* HLT=1\r?$/gm)].map((m) => m[1]!))];
}

async function call(vm: RunningVmm, command: string, args?: Record<string, unknown>): Promise<Reply> {
  try {
    return { return: await vm.qmp.execute(command, args) };
  } catch (e) {
    if (e instanceof QmpCommandError) return { error: { class: e.errorClass, desc: e.desc } };
    throw e;
  }
}

interface Transcript {
  replies: Map<string, Reply>;
  events: QmpEvent[];
  commands: string[];
}

/** The whole exchange on one booted VMM. */
async function exchange(vmm: 'pmemvm' | 'qemu'): Promise<Transcript> {
  const vm = await startVmm({
    vmm, script: TICKER,
    // pmemvm's -nographic alone multiplexes the monitor onto stdio; QEMU gets -serial stdio from startVmm.
    args: (dir) => [...vmArgs(dir), ...(vmm === 'pmemvm' ? ['-serial', 'stdio'] : [])],
  });
  try {
    const replies = new Map<string, Reply>();
    const events: QmpEvent[] = [];
    vm.qmp.onEvent((e) => events.push(e));
    await vm.waitFor(/^TICK 2$/m);
    const put = async (key: string, command: string, args?: Record<string, unknown>) => {
      replies.set(key, await call(vm, command, args));
    };
    for (const q of ['query-version', 'query-status', 'query-name', 'query-kvm', 'query-cpus-fast', 'query-memory-size-summary',
      'query-memory-devices', 'query-memdev', 'query-pci', 'query-chardev']) await put(q, q);
    // QEMU lists the backends in its hash table's order: compared by id.
    const memdev = replies.get('query-memdev')!;
    if ('return' in memdev) replies.set('query-memdev', { return: (memdev.return as { id: string }[]).sort((a, b) => a.id.localeCompare(b.id)) });
    // Filenames hold the private directory: the same text once it is replaced.
    const chardev = replies.get('query-chardev')!;
    if ('return' in chardev) {
      const list = (chardev.return as { label: string; filename: string }[])
        .map((c) => ({ ...c, filename: c.filename.split(vm.dir).join('DIR') }))
        .sort((a, b) => a.label.localeCompare(b.label));
      replies.set('query-chardev', { return: list });
    }
    const cmds = await call(vm, 'query-commands');
    const commands = 'return' in cmds ? (cmds.return as { name: string }[]).map((c) => c.name) : [];

    const stopped = vm.qmp.waitEvent('STOP', () => true, 30_000);
    await put('stop', 'stop');
    await stopped;
    await put('query-status/paused', 'query-status');
    // info registers of the paused guest: every line, with its values masked.
    const regs = await call(vm, 'human-monitor-command', { 'command-line': 'info registers -a' });
    replies.set('hmp info registers -a/paused: lines', 'return' in regs ? { return: registersShape(regs.return as string) } : regs);
    await put('hmp info registers 7', 'human-monitor-command', { 'command-line': 'info registers 7' });
    await put('hmp info status/paused', 'human-monitor-command', { 'command-line': 'info status' });
    const resumed = vm.qmp.waitEvent('RESUME', () => true, 30_000);
    await put('cont', 'cont');
    await resumed;
    await put('query-status/running', 'query-status');
    await put('hmp info status', 'human-monitor-command', { 'command-line': 'info status' });

    // While the guest runs, vCPU 1 (a worker thread in pmemvm) is asked for its registers.
    const running = await call(vm, 'human-monitor-command', { 'command-line': 'info registers 1' });
    replies.set('hmp info registers 1/running: lines', 'return' in running ? { return: registersShape(running.return as string) } : running);
    // A vCPU caught halted shows the RIP of the kernel's idle HLT: the same kernel, so the same
    // address under both VMMs. The ticker's guest is idle nearly all the time: ask until one is,
    // five times, and keep the RIP seen most. (A vCPU is now and then caught in another HLT,
    // such as a paravirtual spinlock's wait with interrupts off: seen once in CI, on pmemvm.)
    const seen = new Map<string, number>();
    for (let i = 0, caught = 0; i < 100 && caught < 5; i++) {
      const r = await call(vm, 'human-monitor-command', { 'command-line': 'info registers -a' });
      const rips = 'return' in r ? haltedRips(r.return as string) : [];
      if (rips.length) caught++;
      for (const rip of rips) seen.set(rip, (seen.get(rip) ?? 0) + 1);
    }
    const idle = [...seen].sort((a, b) => b[1] - a[1])[0]?.[0];
    replies.set('hmp info registers -a/running: RIP of halted vCPUs', { return: idle === undefined ? [] : [idle] });
    await put('unknown command', 'no-such-command');
    await put('missing argument', 'object-del');
    await put('unexpected argument', 'query-status', { x: 1 });
    await put('wrong-typed argument', 'object-del', { id: 1 });
    await put('wrong-typed argument (hmp)', 'human-monitor-command', { 'command-line': true });
    await put('device_del unknown', 'device_del', { id: 'nope' });
    await put('chardev-send-break on the serial port', 'chardev-send-break', { id: 'serial0' });
    await put('chardev-send-break unknown', 'chardev-send-break', { id: 'nope' });
    await put('object-del unknown', 'object-del', { id: 'nope' });
    await put('object-del of the RAM backend', 'object-del', { id: 'pc.ram' });
    await put('object-del of a backend in use', 'object-del', { id: 'mem0' });
    await put('object-add', 'object-add', {
      'qom-type': 'memory-backend-file', id: 'mem2', 'mem-path': join(vm.dir, 'added.img'), size: 32 << 20, share: true,
    });
    const memdevs = await call(vm, 'query-memdev');
    replies.set('query-memdev after object-add: ids', 'return' in memdevs ? { return: (memdevs.return as { id: string }[]).map((m) => m.id).sort() } : memdevs);
    await put('object-add duplicate', 'object-add', { 'qom-type': 'memory-backend-file', id: 'mem2', 'mem-path': join(vm.dir, 'added.img'), size: 32 << 20 });
    await put('object-del', 'object-del', { id: 'mem2' });
    await put('object-del again', 'object-del', { id: 'mem2' });
    await put('object-add with the RAM backend\'s id', 'object-add', { 'qom-type': 'memory-backend-ram', id: 'pc.ram', size: 1 << 20 });
    await put('query-status/end', 'query-status');
    return { replies, events, commands };
  } finally {
    await vm.close();
  }
}

/** query-pci reduced to what both machines have: bus 0's host bridge and the virtio-pmem function. */
function pciCommon(r: Reply): Reply {
  if (!('return' in r)) return r;
  const buses = r.return as { bus: number; devices: { slot: number; function: number; qdev_id: string }[] }[];
  const devs = buses.flatMap((b) => b.devices);
  return {
    return: {
      buses: buses.map((b) => b.bus),
      host: devs.find((d) => d.slot === 0 && d.function === 0),
      vp0: devs.find((d) => d.qdev_id === 'vp0'),
    },
  };
}

test('QMP: the same exchange against pmemvm and QEMU 7.2 gives replies of the same shape', async () => {
  const pm = await exchange('pmemvm');
  const qe = await exchange('qemu');
  const problems: string[] = [];
  for (const [key, q] of qe.replies) {
    const p = pm.replies.get(key)!;
    if (key === 'query-pci') compare(key, pciCommon(p), pciCommon(q), problems);
    else compare(key, p, q, problems);
  }
  // pmemvm places memory devices on 2 MiB boundaries.
  const devs = pm.replies.get('query-memory-devices');
  if (devs && 'return' in devs) {
    for (const d of devs.return as { data: { addr?: number; memaddr?: number } }[]) {
      const a = Number(d.data.addr ?? d.data.memaddr);
      if (a % (2 << 20) !== 0) problems.push(`query-memory-devices: pmemvm placed a device at ${a.toString(16)}, not on 2 MiB`);
    }
  }
  // The events of stop/cont, in order, same shape.
  compare('events', pm.events.map(({ event, data, timestamp }) => ({ event, data, timestamp })),
    qe.events.map(({ event, data, timestamp }) => ({ event, data, timestamp })), problems);
  // pmemvm's commands are QEMU's, but for its own x- command.
  const extra = pm.commands.filter((c) => !qe.commands.includes(c) && c !== DURABILITY_COMMAND);
  if (extra.length) problems.push(`query-commands: pmemvm has commands QEMU lacks: ${extra.join(', ')}`);
  if (!pm.commands.includes(DURABILITY_COMMAND)) problems.push(`query-commands: pmemvm lacks ${DURABILITY_COMMAND}`);
  if (new Set(pm.commands).size !== pm.commands.length) problems.push('query-commands: pmemvm lists a command twice');

  // Fixed texts that both must give, whatever the comparison says.
  const expect: [string, Reply][] = [
    ['query-status/running', { return: { status: 'running', singlestep: false, running: true } }],
    ['query-status/paused', { return: { status: 'paused', singlestep: false, running: false } }],
    ['hmp info status', { return: 'VM status: running\r\n' }],
    ['unknown command', { error: { class: 'CommandNotFound', desc: 'The command no-such-command has not been found' } }],
    ['missing argument', { error: { class: 'GenericError', desc: "Parameter 'id' is missing" } }],
    ['unexpected argument', { error: { class: 'GenericError', desc: "Parameter 'x' is unexpected" } }],
    ['wrong-typed argument', { error: { class: 'GenericError', desc: "Invalid parameter type for 'id', expected: string" } }],
    ['device_del unknown', { error: { class: 'DeviceNotFound', desc: "Device 'nope' not found" } }],
    ['object-del unknown', { error: { class: 'GenericError', desc: "object 'nope' not found" } }],
    ['object-add', { return: {} }],
    ['object-del', { return: {} }],
  ];
  for (const [key, want] of expect) {
    for (const [who, t] of [['pmemvm', pm], ['QEMU', qe]] as const) {
      const got = t.replies.get(key);
      if (show(got) !== show(want)) problems.push(`${key}: ${who} said ${show(got)}, expected ${show(want)}`);
    }
  }
  if (show(pm.events.map((e) => e.event)) !== '["STOP","RESUME"]') problems.push(`events: pmemvm sent ${show(pm.events.map((e) => e.event))}`);

  const table = ['Known differences (compared by type, or left out):',
    ...DIFFERENCES.map((d) => `  ${d.where}: QEMU ${d.qemu}; pmemvm ${d.pmemvm} (${d.why})`)].join('\n');
  assert.deepEqual(problems, [], `pmemvm and QEMU differ beyond the known differences.\n${table}\n\npmemvm: ${show([...pm.replies])}\n\nQEMU: ${show([...qe.replies])}`);
});
