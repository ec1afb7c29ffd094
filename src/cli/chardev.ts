/**
 * Character-device style arguments: -serial, -qmp, -monitor, -mon, -chardev.
 * QEMU accepts dozens of backends; pmemvm takes the few it implements and
 * names them when refusing another.
 *
 * Sockets: pmemvm only listens (server=on). QEMU's default without `server`
 * is to connect out to an existing socket as a client; that is refused with
 * one line saying to add server=on, rather than silently listening instead.
 */
import { UserError } from '../errors.js';
import { IDENTIFIER_HINT, isIdentifier, parseQemuOpts, type QemuOpts } from './qemuopts.js';
import { boolProp, rejectUnknown, uintProp } from './props.js';
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
 *   stdio | chardev:ID | none (-monitor only)
 *   unix:PATH[,server[=on|off]][,wait[=on|off]]   (QemuOpts, implied key path;
 *                                                  'server', 'nowait' short forms)
 *   tcp:HOST:PORT[,...] or tcp::PORT[,...]        (empty HOST: every address)
 * server=on is required (see the file comment); wait defaults to on as in QEMU.
 */
export function parseMonitor(protocol: 'qmp' | 'hmp', arg: string): MonitorSpec | undefined {
  const option = protocol === 'qmp' ? '-qmp' : '-monitor';
  const source = `${option} ${arg}`;
  const endpoint = parseEndpoint(protocol, source, arg);
  return endpoint && { protocol, endpoint, option, source };
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
    return { kind: 'unix', path, ...listenFlags(ctx, opts, 'unix:/tmp/qmp.sock,server=on,wait=off') };
  }
  if (arg.startsWith('tcp:')) return parseTcp(ctx, arg.slice('tcp:'.length));
  const none = protocol === 'hmp' ? ', none' : '';
  throw new UserError(`${ctx}: unsupported monitor backend '${arg}' (use stdio, unix:PATH,server=on,wait=off, tcp:HOST:PORT,server=on,wait=off, chardev:ID${none})`);
}

/**
 * tcp: as QEMU's qemu_chr_parse_compat() reads it: sscanf "%64[^:]:%32[^,]"
 * (HOST up to the first ':', PORT up to the first ','), or ":%32[^,]" for
 * an empty HOST; the rest after ',' is QemuOpts. A bracketed IPv6 address
 * does not survive that scan in QEMU either.
 */
function parseTcp(ctx: string, rest: string): MonitorEndpoint {
  const example = 'tcp:127.0.0.1:4444,server=on,wait=off';
  const m = /^([^:]{0,64}):([^,]{1,32})(?:,(.*))?$/s.exec(rest);
  if (!m) throw new UserError(`${ctx}: expected tcp:HOST:PORT or tcp::PORT (e.g. ${example})`);
  const [, host, portText, tail] = m;
  if (host.startsWith('[')) {
    throw new UserError(`${ctx}: tcp: cannot take a bracketed IPv6 address (QEMU cannot either); use -chardev socket,id=mon0,host=::1,port=4444,server=on,wait=off and -mon chardev=mon0`);
  }
  const port = uintProp(ctx, 'port', portText, 0, 65535);
  const opts = parseQemuOpts(tail ?? '');
  rejectUnknown(ctx, opts, ['server', 'wait'], 'a tcp: socket (after HOST:PORT)');
  return { kind: 'tcp', host, port, ...listenFlags(ctx, opts, example) };
}

/** server (must end up on) and wait (default on), as QEMU's socket chardev reads them. */
function listenFlags(ctx: string, opts: QemuOpts, example: string): { server: true; wait: boolean } {
  const serverText = opts.props.get('server');
  if (serverText === undefined || !boolProp(ctx, 'server', serverText)) {
    const why = serverText === undefined ? 'without server=on, QEMU connects to an existing socket as a client' : 'server=off asks to connect to an existing socket as a client';
    throw new UserError(`${ctx}: ${why}, and pmemvm only listens; add server=on (e.g. ${example})`);
  }
  return { server: true, wait: boolProp(ctx, 'wait', opts.props.get('wait') ?? 'on') };
}

function chardevRef(ctx: string, arg: string): string {
  const id = arg.slice('chardev:'.length);
  if (!isIdentifier(id)) throw new UserError(`${ctx}: '${id}' is not a valid chardev id (${IDENTIFIER_HINT})`);
  return id;
}

/**
 * -mon [chardev=]ID[,mode=readline|control][,pretty=on|off][,id=ID]: a monitor
 * on a -chardev. mode defaults to readline (HMP) as in QEMU. pretty=on is
 * refused: pmemvm's QMP writes each reply on one line. Whether the chardev
 * exists is checked by validateOptions() (QEMU: 'chardev "x" not found').
 */
export function parseMon(arg: string): MonitorSpec {
  const source = `-mon ${arg}`;
  const opts = parseQemuOpts(arg, 'chardev');
  rejectUnknown(source, opts, ['chardev', 'mode', 'pretty'], '-mon');
  if (opts.id !== undefined && !isIdentifier(opts.id)) throw new UserError(`${source}: invalid id '${opts.id}' (${IDENTIFIER_HINT})`);
  // QEMU: "Parameter 'chardev' is missing"
  const id = opts.props.get('chardev');
  if (!id) throw new UserError(`${source}: missing chardev= (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off -mon chardev=mon0,mode=control)`);
  // QEMU: "Parameter 'mode' does not accept value 'x'"
  const mode = opts.props.get('mode') ?? 'readline';
  if (mode !== 'readline' && mode !== 'control') throw new UserError(`${source}: property 'mode' must be readline (human monitor) or control (QMP), not '${mode}'`);
  if (boolProp(source, 'pretty', opts.props.get('pretty') ?? 'off')) {
    // QEMU: "'pretty' is not compatible with HMP monitors"
    if (mode === 'readline') throw new UserError(`${source}: pretty=on is only for QMP (mode=control), not the human monitor`);
    throw new UserError(`${source}: pretty=on is not supported (pmemvm's QMP sends each reply on one line, which every QMP client reads); leave out pretty`);
  }
  return { protocol: mode === 'control' ? 'qmp' : 'hmp', endpoint: { kind: 'chardev', id }, option: '-mon', source };
}

/** -chardev BACKEND,id=ID,...: kept generic here; readChardev() gives the typed form. */
export function parseChardev(arg: string): ChardevSpec {
  const ctx = `-chardev ${arg}`;
  const opts = parseQemuOpts(arg, 'backend');
  const backend = opts.props.get('backend') ?? '';
  opts.props.delete('backend');
  if (!backend) throw new UserError(`${ctx}: missing backend type (e.g. -chardev socket,id=qmp0,path=/tmp/qmp.sock,server=on,wait=off)`);
  if (opts.id === undefined) throw new UserError(`${ctx}: missing id= (every -chardev needs one, e.g. ${backend},id=char0)`);
  if (!isIdentifier(opts.id)) throw new UserError(`${ctx}: invalid id '${opts.id}' (${IDENTIFIER_HINT})`);
  return { backend, id: opts.id, props: opts.props, flags: opts.flags, arg };
}

/** A listening socket's address: a unix path, or TCP host ('' = every address) and port. */
export type SocketAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** A -chardev, typed: the three backends pmemvm implements. */
export type Chardev =
  /** socket,id=ID,path=PATH|host=H,port=P,server=on[,wait=on|off]: always listening. */
  | { backend: 'socket'; id: string; address: SocketAddress; wait: boolean; arg: string }
  /**
   * stdio,id=ID[,mux=on][,signal=off]. mux: several frontends (serial, monitors)
   * share it, Ctrl-A c switching; signal=off: Ctrl-C goes to the guest instead
   * of ending pmemvm (QEMU's default is on).
   */
  | { backend: 'stdio'; id: string; mux: boolean; signal: boolean; arg: string }
  /** null,id=ID: output discarded, no input. */
  | { backend: 'null'; id: string; arg: string };

const SOCKET_EXAMPLE = 'socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off';

/** Typed read of a -chardev; every property pmemvm does not implement is refused. */
export function readChardev(spec: ChardevSpec): Chardev {
  const ctx = `-chardev ${spec.arg}`;
  const { id, arg } = spec;
  const opts = { props: spec.props, flags: spec.flags };
  switch (spec.backend) {
    case 'null':
      rejectUnknown(ctx, opts, [], 'a null chardev (besides id)');
      return { backend: 'null', id, arg };
    case 'stdio':
      rejectUnknown(ctx, opts, ['mux', 'signal'], 'a stdio chardev (besides id)');
      return {
        backend: 'stdio', id, arg,
        mux: boolProp(ctx, 'mux', spec.props.get('mux') ?? 'off'),
        signal: boolProp(ctx, 'signal', spec.props.get('signal') ?? 'on'),
      };
    case 'socket': {
      rejectUnknown(ctx, opts, ['path', 'host', 'port', 'server', 'wait'], 'a socket chardev (besides id)');
      const p = spec.props;
      let address: SocketAddress;
      if (p.has('path')) {
        // QEMU: "None or one of 'path', 'fd' or 'host' option required."
        if (p.has('host') || p.has('port')) throw new UserError(`${ctx}: give either path= (unix socket) or host= and port= (TCP), not both`);
        const path = p.get('path')!;
        if (!path) throw new UserError(`${ctx}: path= is empty (e.g. -chardev ${SOCKET_EXAMPLE})`);
        address = { kind: 'unix', path };
      } else {
        // QEMU: "chardev: socket: no host given" / "chardev: socket: no port given"
        if (!p.has('host') || !p.has('port')) {
          throw new UserError(`${ctx}: a socket needs path=PATH, or host=HOST,port=PORT (e.g. -chardev ${SOCKET_EXAMPLE})`);
        }
        address = { kind: 'tcp', host: p.get('host')!, port: uintProp(ctx, 'port', p.get('port')!, 0, 65535) };
      }
      return { backend: 'socket', id, address, wait: listenFlags(ctx, { id, ...opts }, `-chardev ${SOCKET_EXAMPLE}`).wait, arg };
    }
    default:
      throw new UserError(`${ctx}: unsupported chardev backend '${spec.backend}' (pmemvm has socket, stdio and null)`);
  }
}
