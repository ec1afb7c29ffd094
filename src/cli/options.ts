/**
 * parseArgs(): the QEMU-style command line → VmOptions. Only syntax and
 * per-option values are checked here; rules spanning options live in
 * validate.ts, typed -object/-device reads in backends.ts/devices.ts.
 *
 * Like QEMU: options start with '-' or '--'; the value is always the next
 * argument, even if it starts with '-' (-append "-v"); '-m=512' is not an
 * option; -help/-version act as soon as they are reached.
 */
import { UserError } from '../errors.js';
import { parseChardev, parseMon, parseMonitor, parseSerial } from './chardev.js';
import { applyMachine, applyMemory, checkAccel, DEFAULT_RAM, parseCpu } from './machine.js';
import { IDENTIFIER_HINT, isIdentifier, parseQemuOpts } from './qemuopts.js';
import { rejectUnknown } from './props.js';
import { addSmpArg, resolveSmp, type SmpInput } from './smp.js';
import type { VmOptions } from './vm-options.js';

export type * from './vm-options.js';
export { HELP_TEXT, VERSION_TEXT } from './help.js';

type Handler = (o: VmOptions, arg: string, state: State) => void;
interface State { smp: SmpInput; stop: boolean; monitorGiven: boolean }
interface OptionDef { takesArg: boolean; handle: Handler }

const flag = (handle: (o: VmOptions, s: State) => void): OptionDef => ({ takesArg: false, handle: (o, _a, s) => handle(o, s) });
const withArg = (handle: Handler): OptionDef => ({ takesArg: true, handle });

const machine = withArg((o, arg) => applyMachine(o.machine, arg));

const OPTIONS: Record<string, OptionDef> = {
  machine,
  M: machine,
  accel: withArg((_o, arg) => checkAccel(arg)),
  'enable-kvm': flag(() => {}),
  cpu: withArg((o, arg) => { o.cpu = parseCpu(arg); }),
  m: withArg((o, arg) => applyMemory(o.memory, arg)),
  smp: withArg((_o, arg, s) => addSmpArg(s.smp, `-smp ${arg}`, parseQemuOpts(arg, 'cpus').props)),
  kernel: withArg((o, arg) => { o.kernel = arg; }),
  initrd: withArg((o, arg) => { o.initrd = arg; }),
  append: withArg((o, arg) => { o.append = arg; }),
  nographic: flag((o) => { o.nographic = true; }),
  serial: withArg((o, arg) => { o.serials.push(parseSerial(arg)); }),
  'no-reboot': flag((o) => { o.noReboot = true; }),
  'no-shutdown': flag((o) => { o.noShutdown = true; }),
  name: withArg((o, arg) => { o.name = parseName(arg); }),
  display: withArg((o, arg) => { checkDisplay(arg); o.displayNone = true; }),
  object: withArg((o, arg) => { o.objects.push(parseObject(arg)); }),
  device: withArg((o, arg) => { o.devices.push(parseDeviceArg(arg)); }),
  chardev: withArg((o, arg) => { o.chardevs.push(parseChardev(arg)); }),
  qmp: withArg((o, arg, s) => { pushDefined(o.monitors, parseMonitor('qmp', arg)); s.monitorGiven = true; }),
  monitor: withArg((o, arg, s) => { pushDefined(o.monitors, parseMonitor('hmp', arg)); s.monitorGiven = true; }),
  mon: withArg((o, arg, s) => { o.monitors.push(parseMon(arg)); s.monitorGiven = true; }),
  // pmemvm has no network or display devices: 'none' asks for nothing, anything else is refused.
  nic: withArg((_o, arg) => checkNone('-nic', arg, 'network devices')),
  net: withArg((_o, arg) => checkNone('-net', arg, 'network devices')),
  vga: withArg((_o, arg) => checkNone('-vga', arg, 'display devices')),
  daemonize: flag(() => {
    throw new UserError('-daemonize: not supported (run pmemvm in the background with your shell, setsid or a service manager)');
  }),
  nodefaults: flag((o) => { o.nodefaults = true; }),
  'no-user-config': flag((o) => { o.noUserConfig = true; }),
  S: flag((o) => { o.startPaused = true; }),
  pidfile: withArg((o, arg) => { o.pidfile = arg; }),
  h: flag((o, s) => { o.action = 'help'; s.stop = true; }),
  help: flag((o, s) => { o.action = 'help'; s.stop = true; }),
  version: flag((o, s) => { o.action = 'version'; s.stop = true; }),
  // pmemvm's own: open the backends, say whether each device is crash-safe (JSON), exit.
  'durability-report': flag((o) => { o.action = 'durability-report'; }),
};

/** Everything at QEMU's defaults: pc, 128M, 1 vCPU, no devices. */
export function defaultOptions(): VmOptions {
  return {
    action: 'run',
    machine: { type: 'pc', nvdimm: false, nvdimmPersistence: undefined },
    accel: 'kvm',
    cpu: undefined,
    memory: { size: DEFAULT_RAM, slots: 0, maxmem: undefined },
    smp: { cpus: 1, maxcpus: 1, sockets: 1, cores: 1, threads: 1 },
    kernel: undefined,
    initrd: undefined,
    append: undefined,
    nographic: false,
    serials: [],
    noReboot: false,
    noShutdown: false,
    name: undefined,
    displayNone: false,
    objects: [],
    devices: [],
    chardevs: [],
    monitors: [],
    nodefaults: false,
    noUserConfig: false,
    startPaused: false,
    pidfile: undefined,
  };
}

/** Parses argv (without node and script). Throws UserError on any mistake. */
export function parseArgs(argv: string[]): VmOptions {
  const o = defaultOptions();
  const state: State = { smp: new Map(), stop: false, monitorGiven: false };
  for (let i = 0; i < argv.length && !state.stop; i++) {
    const word = argv[i];
    if (!word.startsWith('-') || word === '-') {
      // QEMU treats a non-option as a disk image.
      throw new UserError(`${word}: unexpected argument (pmemvm takes no disk image; options start with '-', see pmemvm -help)`);
    }
    const name = word.slice(word.startsWith('--') ? 2 : 1);
    const def = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined;
    if (!def) throw new UserError(invalidOption(word, name));
    let arg = '';
    if (def.takesArg) {
      if (i + 1 >= argv.length) throw new UserError(`${word}: requires an argument`);
      arg = argv[++i];
    }
    def.handle(o, arg, state);
  }
  if (state.smp.size) o.smp = resolveSmp(state.smp);
  if (o.nographic && !o.nodefaults) addNographicDefaults(o, state.monitorGiven);
  return o;
}

/**
 * QEMU vl.c: -nographic puts the serial port and the human monitor on stdio:
 * both multiplexed (mon:stdio) when neither -serial nor -qmp/-monitor/-mon was
 * given, otherwise whichever of the two was not given goes to stdio alone.
 */
function addNographicDefaults(o: VmOptions, monitorGiven: boolean): void {
  const serialGiven = o.serials.length > 0;
  if (!serialGiven && !monitorGiven) {
    o.serials.push({ kind: 'stdio', withMonitor: true });
    return;
  }
  if (!serialGiven) o.serials.push({ kind: 'stdio', withMonitor: false });
  if (!monitorGiven) o.monitors.push({ protocol: 'hmp', endpoint: { kind: 'stdio' }, option: '-nographic', source: '-nographic' });
}

function invalidOption(word: string, name: string): string {
  const eq = name.indexOf('=');
  const base = eq > 0 ? name.slice(0, eq) : '';
  if (base && Object.hasOwn(OPTIONS, base) && OPTIONS[base].takesArg) {
    return `${word}: invalid option (write the value as a separate argument: -${base} ${name.slice(eq + 1)})`;
  }
  return `${word}: invalid option (see pmemvm -help)`;
}

function pushDefined<T>(list: T[], item: T | undefined): void {
  if (item !== undefined) list.push(item);
}

/** -name [guest=]NAME: QemuOpts with implied key 'guest'. */
function parseName(arg: string): string {
  const opts = parseQemuOpts(arg, 'guest');
  rejectUnknown(`-name ${arg}`, opts, ['guest'], '-name');
  return opts.props.get('guest') ?? '';
}

function checkNone(opt: string, arg: string, what: string): void {
  if (arg !== 'none') throw new UserError(`${opt} ${arg}: pmemvm has no ${what}; use ${opt} none, or leave it out`);
}

function checkDisplay(arg: string): void {
  if (arg !== 'none') {
    throw new UserError(`-display ${arg}: pmemvm has no display (use -display none, or -nographic for a console on stdio)`);
  }
}

/** -object TYPE,id=ID,...: QemuOpts with implied key 'qom-type'; id required. */
function parseObject(arg: string) {
  const ctx = `-object ${arg}`;
  const opts = parseQemuOpts(arg, 'qom-type');
  const qomType = opts.props.get('qom-type') ?? '';
  opts.props.delete('qom-type');
  // QEMU: "Parameter 'qom-type' does not accept value ''" / "Parameter 'id' is missing"
  if (!qomType) throw new UserError(`${ctx}: missing object type (e.g. -object memory-backend-file,id=mem0,mem-path=pmem.img,size=1G)`);
  if (opts.id === undefined) throw new UserError(`${ctx}: missing id= (every -object needs one, e.g. ${qomType},id=mem0,...)`);
  checkId(ctx, opts.id);
  return { qomType, id: opts.id, props: opts.props, flags: opts.flags, arg };
}

/** -device DRIVER,...: QemuOpts with implied key 'driver'; id optional. */
function parseDeviceArg(arg: string) {
  const ctx = `-device ${arg}`;
  const opts = parseQemuOpts(arg, 'driver');
  const driver = opts.props.get('driver') ?? '';
  opts.props.delete('driver');
  // QEMU: "Parameter 'driver' is missing"
  if (!driver) throw new UserError(`${ctx}: missing device type (e.g. -device nvdimm,memdev=mem0,id=nv0)`);
  if (opts.id !== undefined) checkId(ctx, opts.id);
  return { driver, id: opts.id, props: opts.props, flags: opts.flags, arg };
}

// QEMU: "Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter."
function checkId(ctx: string, id: string): void {
  if (!isIdentifier(id)) throw new UserError(`${ctx}: invalid id '${id}' (${IDENTIFIER_HINT})`);
}
