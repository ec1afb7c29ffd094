/**
 * The one command table (QEMU's QAPI schema, reduced to what pmemvm serves): each command
 * has a name, an argument schema checked the way QEMU's QObject input visitor checks it,
 * and a handler that calls MachineControl and shapes QEMU's reply. QMP replies are the
 * truth; HMP (hmp.ts) runs the same handlers and formats their results.
 */
import type { MachineControl } from './machine-control.js';
import { QmpError, QMP_TEXT, genericError } from './qmp-errors.js';
import { QFloat, type QDict, type QObject, newQDict } from './qobject.js';
import { PACKAGE, QEMU_VERSION } from './version.js';

export type ArgType = 'str' | 'int' | 'bool' | 'number' | 'capabilities';

export interface ArgSpec {
  name: string;
  type: ArgType;
  optional?: boolean;
}

export interface CommandContext {
  machine: MachineControl;
  /** Runs an HMP command line and returns its output (human-monitor-command). */
  runHmp(commandLine: string, cpuIndex: number | undefined): string | Promise<string>;
}

export type Args = Record<string, unknown>;

export interface CommandDef {
  name: string;
  args: ArgSpec[];
  /** Members beyond `args` are the command's free-form properties (object-add, device_add). */
  extraScalars?: boolean;
  /** The reply's "return" value as plain JS (QAPI member names); undefined means {}. */
  handler(args: Args, ctx: CommandContext): unknown;
}

const TYPE_NAME: Record<ArgType, string> = { str: 'string', int: 'integer', bool: 'boolean', number: 'number', capabilities: 'array' };

/** One argument's value checked against its type, as qobject-input-visitor does. */
function checkType(name: string, type: ArgType, v: QObject): unknown {
  const bad = () => genericError(QMP_TEXT.paramType(name, TYPE_NAME[type]));
  switch (type) {
    case 'str':
      if (typeof v !== 'string') throw bad();
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw bad();
      return v;
    case 'int':
      // int64: a JSON integer that fits; uint64-only values and floats are refused.
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint' && v < (1n << 63n)) return v;
      throw bad();
    case 'number':
      if (typeof v === 'number' || typeof v === 'bigint') return Number(v);
      if (v instanceof QFloat) return v.value;
      throw bad();
    case 'capabilities': {
      if (!Array.isArray(v)) throw bad();
      return v.map((c, i) => {
        const n = `${name}[${i}]`;
        if (typeof c !== 'string') throw genericError(QMP_TEXT.paramType(n, 'string'));
        // QEMU 7.2 names the element 'null' in this one message (its enum visitor); kept verbatim.
        if (c !== 'oob') throw genericError(`Parameter 'null' does not accept value '${c}'`);
        return c;
      });
    }
  }
}

/** A free-form property as the command line would spell it. */
function scalarToOption(name: string, v: QObject): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof QFloat) return String(v.value);
  throw genericError(QMP_TEXT.paramType(name, 'string'));
}

/**
 * Checks `arguments` against the schema: declared members in order (missing, wrong type),
 * then anything left over is unexpected — QEMU's order. Returns plain values.
 */
export function checkArgs(cmd: CommandDef, raw: QDict | undefined): Args {
  const given = raw ?? newQDict();
  const out: Args = {};
  for (const spec of cmd.args) {
    if (!Object.prototype.hasOwnProperty.call(given, spec.name)) {
      if (!spec.optional) throw genericError(QMP_TEXT.paramMissing(spec.name));
      continue;
    }
    out[spec.name] = checkType(spec.name, spec.type, given[spec.name]!);
  }
  for (const key of Object.keys(given)) {
    if (cmd.args.some((a) => a.name === key)) continue;
    if (!cmd.extraScalars) throw genericError(QMP_TEXT.paramUnexpected(key));
    Object.defineProperty(out, key, { value: scalarToOption(key, given[key]!), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const noArgs: ArgSpec[] = [];
const n = (v: number | bigint) => (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/**
 * pmemvm's durability report. QMP's naming rule: "x-" marks an unstable (experimental)
 * interface, "__RFQDN_" a downstream vendor's. The report's shape may still change and
 * pmemvm owns no domain name to put in an RFQDN, so it is "x-pmemvm-...": "x-" for
 * unstable, "pmemvm" so it cannot meet an upstream x- command. Once stable (and named),
 * it becomes __RFQDN_query-durability.
 */
export const DURABILITY_COMMAND = 'x-pmemvm-query-durability';

export const COMMANDS: CommandDef[] = [
  {
    // Only reached in command mode; in negotiation mode the session handles it.
    name: 'qmp_capabilities',
    args: [{ name: 'enable', type: 'capabilities', optional: true }],
    handler() { throw new QmpError('CommandNotFound', QMP_TEXT.capabilitiesDone); },
  },
  {
    name: 'query-version', args: noArgs,
    handler: () => ({ qemu: { ...QEMU_VERSION }, package: PACKAGE }),
  },
  {
    name: 'query-commands', args: noArgs,
    // QEMU lists the newest-registered command first.
    handler: () => [...COMMANDS].reverse().map((c) => ({ name: c.name })),
  },
  {
    name: 'query-status', args: noArgs,
    handler: (_a, { machine }) => {
      const s = machine.status();
      return { running: s.running, singlestep: false, status: s.status };
    },
  },
  { name: 'query-name', args: noArgs, handler: (_a, { machine }) => ({ name: machine.name() }) },
  { name: 'query-kvm', args: noArgs, handler: (_a, { machine }) => { const k = machine.kvm(); return { enabled: k.enabled, present: k.present }; } },
  {
    name: 'query-cpus-fast', args: noArgs,
    handler: (_a, { machine }) => machine.cpus().map((c) => ({
      'cpu-index': c.cpuIndex,
      'qom-path': c.qomPath,
      'thread-id': c.threadId,
      props: {
        'node-id': c.props.nodeId, 'socket-id': c.props.socketId, 'die-id': c.props.dieId,
        'core-id': c.props.coreId, 'thread-id': c.props.threadId,
      },
      target: c.target,
    })),
  },
  {
    name: 'query-memory-size-summary', args: noArgs,
    handler: (_a, { machine }) => {
      const m = machine.memorySizeSummary();
      return { 'base-memory': n(m.baseMemory), 'plugged-memory': m.pluggedMemory === undefined ? undefined : n(m.pluggedMemory) };
    },
  },
  {
    name: 'query-memory-devices', args: noArgs,
    handler: (_a, { machine }) => machine.memoryDevices().map((d) => {
      if (d.type === 'virtio-pmem') {
        const v = d.data;
        return { type: d.type, data: { id: v.id, memaddr: n(v.memaddr), size: n(v.size), memdev: v.memdev } };
      }
      const x = d.data;
      return {
        type: d.type,
        data: { id: x.id, addr: n(x.addr), size: n(x.size), slot: x.slot, node: x.node, memdev: x.memdev, hotplugged: x.hotplugged, hotpluggable: x.hotpluggable },
      };
    }),
  },
  {
    name: 'query-memdev', args: noArgs,
    handler: (_a, { machine }) => machine.memdevs().map((m) => ({
      id: m.id, size: n(m.size), merge: m.merge, dump: m.dump, prealloc: m.prealloc, share: m.share,
      reserve: m.reserve, 'host-nodes': m.hostNodes, policy: m.policy,
    })),
  },
  {
    name: 'query-pci', args: noArgs,
    handler: (_a, { machine }) => machine.pci().map((b) => ({
      bus: b.bus,
      devices: b.devices.map((d) => ({
        bus: d.bus, slot: d.slot, function: d.function,
        class_info: { desc: d.classInfo.desc, class: d.classInfo.class },
        id: { device: d.id.device, vendor: d.id.vendor, subsystem: d.id.subsystem, 'subsystem-vendor': d.id.subsystemVendor },
        irq: d.irq, irq_pin: d.irqPin, qdev_id: d.qdevId,
        regions: d.regions.map((r) => ({ bar: r.bar, type: r.type, address: n(r.address), size: n(r.size), prefetch: r.prefetch, mem_type_64: r.memType64 })),
      })),
    })),
  },
  {
    name: 'query-chardev', args: noArgs,
    handler: (_a, { machine }) => machine.chardevs().map((c) => ({ label: c.label, filename: c.filename, 'frontend-open': c.frontendOpen })),
  },
  {
    name: 'chardev-send-break', args: [{ name: 'id', type: 'str' }],
    handler: (a, { machine }) => machine.chardevSendBreak(a['id'] as string),
  },
  { name: 'stop', args: noArgs, handler: (_a, { machine }) => machine.stop() },
  { name: 'cont', args: noArgs, handler: (_a, { machine }) => machine.cont() },
  { name: 'system_reset', args: noArgs, handler: (_a, { machine }) => machine.reset() },
  { name: 'system_powerdown', args: noArgs, handler: (_a, { machine }) => machine.powerdown() },
  // QEMU emits SHUTDOWN before it replies to quit, and exits once the reply is out.
  { name: 'quit', args: noArgs, handler: (_a, { machine }) => machine.quit() },
  {
    name: 'human-monitor-command',
    args: [{ name: 'command-line', type: 'str' }, { name: 'cpu-index', type: 'int', optional: true }],
    handler: (a, ctx) => {
      const cpu = a['cpu-index'] === undefined ? undefined : Number(a['cpu-index']);
      if (cpu !== undefined && !ctx.machine.cpus().some((c) => c.cpuIndex === cpu)) {
        throw genericError("Parameter 'cpu-index' expects a CPU number");
      }
      return ctx.runHmp(a['command-line'] as string, cpu);
    },
  },
  {
    // QEMU 7.2's object-add is flat: qom-type, id and the backend's own members side by side.
    name: 'object-add',
    args: [{ name: 'qom-type', type: 'str' }, { name: 'id', type: 'str' }],
    extraScalars: true,
    handler: (a, { machine }) => machine.objectAdd(a as Record<string, string>),
  },
  { name: 'object-del', args: [{ name: 'id', type: 'str' }], handler: (a, { machine }) => machine.objectDel(a['id'] as string) },
  {
    name: 'device_add',
    // QEMU takes device_add's arguments as a free-form dictionary (driver, bus, id and
    // the driver's properties); only driver is required.
    args: [{ name: 'driver', type: 'str' }],
    extraScalars: true,
    handler: (a, { machine }) => machine.deviceAdd(a as Record<string, string>),
  },
  { name: 'device_del', args: [{ name: 'id', type: 'str' }], handler: (a, { machine }) => machine.deviceDel(a['id'] as string) },
  {
    // -durability-report's entries, with QAPI's member spelling (crash-safe).
    name: DURABILITY_COMMAND, args: noArgs,
    handler: (_a, { machine }) => machine.durability().map((d) => ({
      device: d.device, driver: d.driver, slot: d.slot, addr: n(d.addr), size: n(d.size),
      backend: d.backend, path: d.path, 'crash-safe': d.crashSafe, mode: d.mode, reason: d.reason,
    })),
  },
];

const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

export function findCommand(name: string): CommandDef | undefined {
  return BY_NAME.get(name);
}

/** Runs a command by name with QMP-style arguments (HMP uses this too). */
export function runCommand(name: string, rawArgs: QDict | undefined, ctx: CommandContext): unknown {
  const cmd = findCommand(name);
  if (!cmd) throw new QmpError('CommandNotFound', QMP_TEXT.commandNotFound(name));
  return cmd.handler(checkArgs(cmd, rawArgs), ctx);
}

