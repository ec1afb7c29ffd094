/**
 * HMP, the human monitor: QEMU 7.2's command-line grammar (monitor/hmp.c) for pmemvm's
 * commands, run through the QMP command table (commands.ts) and printed with QEMU's texts
 * (hmp-format.ts). Output uses "\n"; hmpOutput() makes it "\r\n" as QEMU's monitor does.
 */
import { parseQemuOpts, isIdentifier } from '../cli/qemuopts.js';
import { runCommand, type CommandContext } from './commands.js';
import * as fmt from './hmp-format.js';
import { formatRegisters } from './hmp-registers.js';
import type { MachineControl } from './machine-control.js';
import { QmpError } from './qmp-errors.js';
import { type QDict, newQDict } from './qobject.js';
import { QEMU_VERSION } from './version.js';

export const HMP_BANNER = `QEMU ${QEMU_VERSION.major}.${QEMU_VERSION.minor}.${QEMU_VERSION.micro} monitor - type 'help' for more information\n`;
export const HMP_PROMPT = '(qemu) ';

export interface HmpContext {
  machine: MachineControl;
  /** The monitor's current CPU (human-monitor-command's cpu-index); default: the first. */
  cpuIndex?: number | undefined;
}

type Out = string | Promise<string>;

interface HmpCommand {
  /** QEMU's name, aliases after '|' ("cont|c"). */
  name: string;
  /** QEMU's args_type letters: s = one word or quoted string, S = rest of line, O = QemuOpts. */
  args: { key: string; type: 's' | 'S' | 'O'; optional?: boolean }[];
  params: string;
  help: string;
  run(args: Record<string, string | undefined>, ctx: HmpContext): Out;
  sub?: HmpCommand[];
}

/** A QMP command's failure printed the HMP way (hmp_handle_error). */
function viaQmp(name: string, args: QDict | undefined, ctx: HmpContext, show: (ret: any) => string): Out { // eslint-disable-line @typescript-eslint/no-explicit-any
  const cctx: CommandContext = { machine: ctx.machine, runHmp: (line, cpu) => runHmpLine(line, { machine: ctx.machine, cpuIndex: cpu }) };
  const fail = (e: unknown) => `Error: ${e instanceof QmpError || e instanceof Error ? e.message : String(e)}\n`;
  try {
    const r = runCommand(name, args, cctx);
    if (r instanceof Promise) return r.then(show).catch(fail);
    return show(r);
  } catch (e) {
    return fail(e);
  }
}

const nothing = () => '';

function info(name: string, help: string, qmp: string, show: (ret: any, ctx: HmpContext) => string): HmpCommand { // eslint-disable-line @typescript-eslint/no-explicit-any
  return { name, args: [], params: '', help, run: (_a, ctx) => viaQmp(qmp, undefined, ctx, (r) => show(r, ctx)) };
}

/** QEMU sorts its tables by name (sortcmdlist); these are already in that order. */
const INFO_COMMANDS: HmpCommand[] = [
  info('chardev', 'show the character devices', 'query-chardev', fmt.formatChardev),
  info('cpus', 'show infos for each CPU', 'query-cpus-fast', (r, ctx) => fmt.formatCpus(r, ctx.cpuIndex ?? (r[0]?.['cpu-index'] ?? 0))),
  info('kvm', 'show KVM information', 'query-kvm', fmt.formatKvm),
  info('memdev', 'show memory backends', 'query-memdev', fmt.formatMemdev),
  info('memory-devices', 'show memory devices', 'query-memory-devices', fmt.formatMemoryDevices),
  info('memory_size_summary', 'show the amount of initially allocated and present hotpluggable (if enabled) memory in bytes.', 'query-memory-size-summary', fmt.formatMemorySizeSummary),
  info('name', 'show the current VM name', 'query-name', fmt.formatName),
  info('pci', 'show PCI info', 'query-pci', fmt.formatPci),
  {
    name: 'registers', args: [{ key: 'which', type: 'S', optional: true }], params: '[-a|vcpu]',
    help: "show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)",
    run: (a, ctx) => infoRegisters(a['which'], ctx),
  },
  info('status', 'show the current VM status (running|paused)', 'query-status', fmt.formatStatus),
  info('version', 'show the version of QEMU', 'query-version', (r) => fmt.formatVersion(r)),
];

/** hmp_info_registers: the monitor's CPU, one given by index, or all (-a), each after a "CPU#N" line. */
async function infoRegisters(which: string | undefined, ctx: HmpContext): Promise<string> {
  const arg = (which ?? '').trim();
  if (arg !== '' && arg !== '-a' && !/^\d+$/.test(arg)) return `invalid char '${/[^0-9]/.exec(arg)![0]}' in expression\nTry "help info registers" for more information\n`;
  const all = await ctx.machine.cpuRegisters();
  const one = (i: number) => {
    const r = all[i];
    if (r === undefined) return `CPU#${i} not available\n`;
    return `\nCPU#${i}\n${typeof r === 'string' ? `(registers not readable: ${r})\n` : formatRegisters(r)}`;
  };
  if (arg === '-a') return all.map((_, i) => one(i)).join('');
  return one(arg === '' ? ctx.cpuIndex ?? 0 : Number(arg));
}

function simple(name: string, help: string, qmp: string): HmpCommand {
  return { name, args: [], params: '', help, run: (_a, ctx) => viaQmp(qmp, undefined, ctx, nothing) };
}

function dict(entries: Record<string, string | undefined>): QDict {
  const d = newQDict();
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) d[k] = v;
  return d;
}

/** QemuOpts text → the flat dictionary QEMU makes of it (qemu_opts_to_qdict), id first. */
function optsDict(text: string, implied: string): QDict {
  const o = parseQemuOpts(text, implied);
  const d = newQDict();
  if (o.id !== undefined) d['id'] = o.id;
  for (const [k, v] of o.props) d[k] = v;
  return d;
}

const HMP_COMMANDS: HmpCommand[] = [
  {
    name: 'chardev-send-break', args: [{ key: 'id', type: 's' }], params: 'id', help: 'send a break on chardev',
    run: (a, ctx) => viaQmp('chardev-send-break', dict({ id: a['id'] }), ctx, nothing),
  },
  simple('cont|c', 'resume emulation', 'cont'),
  {
    name: 'device_add', args: [{ key: 'device', type: 'O', optional: true }],
    params: 'driver[,prop=value][,...]', help: 'add device, like -device on the command line',
    run: (a, ctx) => viaQmp('device_add', a['device'] === undefined ? undefined : optsDict(a['device'], 'driver'), ctx, nothing),
  },
  {
    name: 'device_del', args: [{ key: 'id', type: 's' }], params: 'device', help: 'remove device',
    run: (a, ctx) => viaQmp('device_del', dict({ id: a['id'] }), ctx, nothing),
  },
  {
    name: 'help|?', args: [{ key: 'name', type: 'S', optional: true }], params: '[cmd]', help: 'show the help',
    run: (a) => helpText(a['name']),
  },
  {
    name: 'info', args: [{ key: 'item', type: 's', optional: true }], params: '[subcommand]',
    help: 'show various information about the system state',
    run: () => helpText('info'),
    sub: INFO_COMMANDS,
  },
  {
    name: 'object_add', args: [{ key: 'object', type: 'S' }], params: '[qom-type=]type,id=str[,prop=value][,...]', help: 'create QOM object',
    run: (a, ctx) => viaQmp('object-add', optsDict(a['object']!, 'qom-type'), ctx, nothing),
  },
  {
    name: 'object_del', args: [{ key: 'id', type: 's' }], params: 'id', help: 'destroy QOM object',
    run: (a, ctx) => viaQmp('object-del', dict({ id: a['id'] }), ctx, nothing),
  },
  {
    name: 'quit|q', args: [], params: '', help: 'quit the emulator',
    run: (_a, ctx) => viaQmp('quit', undefined, ctx, nothing),
  },
  simple('stop|s', 'stop emulation', 'stop'),
  simple('system_powerdown', 'send system power down event', 'system_powerdown'),
  simple('system_reset', 'reset the system', 'system_reset'),
];

const matches = (typed: string, name: string) => name.split('|').includes(typed);
const isSpace = (c: string | undefined) => c !== undefined && /[ \t\n\r\v\f]/.test(c);

/** `name params -- help` lines, QEMU's help_cmd(). */
export function helpText(what: string | undefined): string {
  const words = (what ?? '').split(/[ \t\n\r\v\f]+/).filter((w) => w !== '');
  const dump = (table: HmpCommand[], i: number, prefix: string): string => {
    if (i >= words.length) return table.map((c) => `${prefix}${c.name} ${c.params} -- ${c.help}\n`).join('');
    const c = table.find((x) => matches(words[i]!, x.name));
    if (!c) return `unknown command: '${words.slice(0, i + 1).join(' ')}'\n`;
    if (c.sub) return dump(c.sub, i + 1, `${prefix}${words[i]} `);
    return `${prefix}${c.name} ${c.params} -- ${c.help}\n`;
  };
  return dump(HMP_COMMANDS, 0, '');
}

/** get_str(): one word, or a "quoted string" with \n \r \\ \' \" escapes; undefined if none. */
function readWord(line: string, pos: number): [string, number] | undefined {
  while (isSpace(line[pos])) pos++;
  if (pos >= line.length) return undefined;
  if (line[pos] !== '"') {
    let end = pos;
    while (end < line.length && !isSpace(line[end])) end++;
    return [line.slice(pos, end), end];
  }
  let s = '';
  for (pos++; pos < line.length && line[pos] !== '"'; pos++) {
    if (line[pos] === '\\') {
      const c = line[++pos];
      const esc: Record<string, string> = { n: '\n', r: '\r', '\\': '\\', "'": "'", '"': '"' };
      if (c === undefined || esc[c] === undefined) return undefined;
      s += esc[c];
    } else {
      s += line[pos];
    }
  }
  if (line[pos] !== '"') return undefined;
  return [s, pos + 1];
}

/**
 * Runs one HMP command line; returns what HMP prints ("\r\n" endings). A command whose
 * handler is asynchronous yields a promise.
 */
export function runHmpLine(line: string, ctx: HmpContext): Out {
  const failed = (e: unknown) => `Error: ${e instanceof Error ? e.message : String(e)}\n`;
  let out: Out;
  try {
    out = runLine(line, ctx);
  } catch (e) {
    out = failed(e); // a pmemvm bug; the monitor still answers
  }
  return out instanceof Promise ? out.catch(failed).then(crlf) : crlf(out);
}

/** Monitor output: every "\n" goes out as "\r\n" (monitor_puts). */
export function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

function runLine(line: string, ctx: HmpContext): Out {
  let table = HMP_COMMANDS;
  let pos = 0;
  let cmd: HmpCommand | undefined;
  // monitor_parse_command(): a name ends at white space or '/'; sub-tables recurse.
  for (;;) {
    let p = pos;
    while (isSpace(line[p])) p++;
    if (p >= line.length) {
      if (!cmd) return ''; // empty line
      break; // "info " with nothing after: the info command itself
    }
    let end = p;
    while (end < line.length && line[end] !== '/' && !isSpace(line[end])) end++;
    const typed = line.slice(p, end);
    const found = table.find((c) => matches(typed, c.name));
    if (!found) return `unknown command: '${line.slice(0, end)}'\n`;
    cmd = found;
    pos = end;
    if (!found.sub || pos >= line.length) break;
    table = found.sub;
  }
  const hint = () => `Try "help ${line.slice(0, pos).replace(/^[ \t\n\r\v\f]+/, '').replace(/[ \t\n\r\v\f]+$/, '')}" for more information\n`;
  const args: Record<string, string | undefined> = {};
  let p = pos;
  for (const spec of cmd.args) {
    while (isSpace(line[p])) p++;
    if (spec.type === 'S') {
      if (p >= line.length) {
        if (spec.optional) continue;
        return `${cmd.name}: string expected\n${hint()}`;
      }
      args[spec.key] = line.slice(p);
      p = line.length;
      continue;
    }
    if (p >= line.length && spec.optional) continue;
    const w = readWord(line, p);
    if (!w) {
      if (spec.type === 'O' && p >= line.length) continue;
      return `${cmd.name}: string expected\n${hint()}`;
    }
    if (spec.type === 'O') {
      // QemuOpts refuses a malformed id before the command runs (its message goes to
      // QEMU's stderr; the monitor shows only the hint).
      const id = parseQemuOpts(w[0], 'driver').id;
      if (id !== undefined && !isIdentifier(id)) return hint();
    }
    args[spec.key] = w[0];
    p = w[1];
  }
  while (isSpace(line[p])) p++;
  if (p < line.length) return `${cmd.name}: extraneous characters at the end of line\n${hint()}`;
  return cmd.run(args, ctx);
}
