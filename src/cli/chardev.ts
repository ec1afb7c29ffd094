/**
 * Character-device style arguments: -serial, -qmp, -monitor, -chardev.
 * QEMU accepts dozens of backends; pmemvm takes the few it implements and
 * names them when refusing another.
 */
import { UserError } from '../errors.js';
import { IDENTIFIER_HINT, isIdentifier, parseQemuOpts } from './qemuopts.js';
import { boolProp, rejectUnknown } from './props.js';
import type { ChardevSpec, MonitorEndpoint, MonitorSpec, SerialSpec } from './vm-options.js';

const SERIAL_BACKENDS = 'stdio, mon:stdio, null, none, file:PATH or chardev:ID';

export function parseSerial(arg: string): SerialSpec {
  const ctx = `-serial ${arg}`;
  if (arg === 'stdio') return { kind: 'stdio', withMonitor: false };
  if (arg === 'mon:stdio') return { kind: 'stdio', withMonitor: true };
  if (arg === 'null') return { kind: 'null' };
  if (arg === 'none') return { kind: 'none' };
  if (arg.startsWith('file:')) {
    const path = arg.slice('file:'.length);
    if (!path) throw new UserError(`${ctx}: missing file name after 'file:' (e.g. -serial file:console.log)`);
    return { kind: 'file', path };
  }
  if (arg.startsWith('chardev:')) return { kind: 'chardev', id: chardevRef(ctx, arg) };
  throw new UserError(`${ctx}: unsupported serial backend '${arg}' (use ${SERIAL_BACKENDS})`);
}

/**
 * -qmp / -monitor argument. Returns undefined for '-monitor none' (no monitor).
 * unix:PATH takes QemuOpts after the path: server[=on|off], wait[=on|off],
 * short forms 'server' and 'nowait' included.
 */
export function parseMonitor(protocol: 'qmp' | 'hmp', arg: string): MonitorSpec | undefined {
  const opt = protocol === 'qmp' ? '-qmp' : '-monitor';
  const source = `${opt} ${arg}`;
  const endpoint = parseEndpoint(protocol, source, arg);
  return endpoint && { protocol, endpoint, source };
}

function parseEndpoint(protocol: 'qmp' | 'hmp', ctx: string, arg: string): MonitorEndpoint | undefined {
  if (arg === 'stdio') return { kind: 'stdio' };
  if (arg === 'none' && protocol === 'hmp') return undefined;
  if (arg.startsWith('chardev:')) return { kind: 'chardev', id: chardevRef(ctx, arg) };
  if (arg.startsWith('unix:')) {
    const opts = parseQemuOpts(arg.slice('unix:'.length), 'path');
    rejectUnknown(ctx, opts, ['path', 'server', 'wait'], 'a unix: socket');
    const path = opts.props.get('path') ?? '';
    if (!path) throw new UserError(`${ctx}: missing socket path after 'unix:' (e.g. unix:/tmp/qmp.sock,server=on,wait=off)`);
    const server = boolProp(ctx, 'server', opts.props.get('server') ?? 'off');
    const wait = boolProp(ctx, 'wait', opts.props.get('wait') ?? 'on');
    return { kind: 'unix', path, server, wait };
  }
  const none = protocol === 'hmp' ? ', none' : '';
  throw new UserError(`${ctx}: unsupported monitor backend '${arg}' (use stdio, unix:PATH,server=on,wait=off, chardev:ID${none})`);
}

function chardevRef(ctx: string, arg: string): string {
  const id = arg.slice('chardev:'.length);
  if (!isIdentifier(id)) throw new UserError(`${ctx}: '${id}' is not a valid chardev id (${IDENTIFIER_HINT})`);
  return id;
}

/** -chardev BACKEND,id=ID,...: kept generic; the backend is checked where it is opened. */
export function parseChardev(arg: string): ChardevSpec {
  const ctx = `-chardev ${arg}`;
  const opts = parseQemuOpts(arg, 'backend');
  const backend = opts.props.get('backend') ?? '';
  opts.props.delete('backend');
  if (!backend) throw new UserError(`${ctx}: missing backend type (e.g. -chardev socket,id=qmp0,path=/tmp/qmp.sock,server=on,wait=off)`);
  if (opts.id === undefined) throw new UserError(`${ctx}: missing id= (every -chardev needs one, e.g. ${backend},id=char0)`);
  if (!isIdentifier(opts.id)) throw new UserError(`${ctx}: invalid id '${opts.id}' (${IDENTIFIER_HINT})`);
  return { backend, id: opts.id, props: opts.props, arg };
}
