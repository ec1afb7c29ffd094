/**
 * resolveMonitors(): every monitor of a command line (-qmp, -monitor, -mon on
 * a -chardev, -serial mon:stdio and -nographic's defaults) as what to open:
 * protocol, where to listen, whether to wait, and the label and filename
 * QEMU 7.2's query-chardev reports for its character device.
 *
 * QEMU 7.2's names, checked against qemu-system-x86_64 7.2:
 *   -qmp/-monitor X             label compat_monitorN, N counting every -qmp and
 *                               -monitor (chardev:ID included, 'none' not) in order;
 *                               -nographic's monitor is made as '-monitor stdio'
 *   -qmp/-monitor chardev:ID,   label ID (no chardev of their own)
 *   -mon chardev=ID
 *   -serial X                   label serialN, N counting every -serial ('none' and
 *                               chardev:ID count but make no chardev)
 *   filenames                   stdio, null, file (for -serial file:PATH: no path),
 *                               mux (a muxed chardev; its stdio is the chardev
 *                               LABEL-base, filename stdio: -serial mon:stdio and
 *                               -nographic give serial0 = mux, serial0-base = stdio)
 *   listening socket            no client:  disconnected:unix:PATH,server=on
 *                                           disconnected:tcp:HOST:PORT,server=on
 *                               a client:   unix:PATH,server=on
 *                                           tcp:HOST:PORT,server=on <-> PEER:PEERPORT
 *                               HOST and PORT are the address actually bound (QEMU
 *                               re-reads it after listen): tcp::4444 shows 0.0.0.0 (pmemvm: 127.0.0.1),
 *                               localhost shows 127.0.0.1, port 0 the chosen port.
 *                               IPv6 hosts get brackets only in the connected form
 *                               ("tcp:[::1]:4451,server=on <-> [::1]:42556").
 * QEMU lists query-chardev in its hash table's order; resolveChardevs() gives
 * creation order (-chardev, then monitors, then serial ports). QEMU's
 * parallel0 (-nographic on pc: filename null) is not listed: pmemvm has no
 * parallel port.
 *
 * Call after validateOptions(): the errors here are the ones it reports first.
 */
import { UserError } from '../errors.js';
import { readChardev, type Chardev, type SocketAddress } from './chardev.js';
import type { MonitorSpec, VmOptions } from './vm-options.js';

export type { SocketAddress } from './chardev.js';

/**
 * Where a monitor is served. tcp host: '' from the command line (tcp::PORT) is loopback,
 * 127.0.0.1: QEMU listens on every address there, but whoever reaches a monitor controls
 * the guest, so pmemvm opens it to the network only when told an address (with a warning).
 */
export type MonitorWhere = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } | { kind: 'stdio' };
/** A listening socket's MonitorWhere. */
export type ListenWhere = Exclude<MonitorWhere, { kind: 'stdio' }>;

export interface ResolvedMonitor {
  protocol: 'qmp' | 'hmp';
  where: MonitorWhere;
  /** wait=on (QEMU's default for a listening socket): start the guest only after the first client connects. Always false for stdio. */
  wait: boolean;
  /**
   * The monitor is one frontend of a mux chardev on stdio (-serial mon:stdio,
   * -nographic, -chardev stdio,mux=on): Ctrl-A c switches between it and the
   * serial console.
   */
  mux: boolean;
  /** query-chardev's label for the monitor's chardev (compat_monitor0, serial0, or the -chardev id). */
  label: string;
  /** query-chardev's filename before any client connects (see connectedFilename()). */
  filename: string;
  /** The option as written ("-qmp unix:/tmp/q.sock,server=on,wait=off", "-nographic"). */
  source: string;
}

/** One entry of query-chardev (frontend-open left to the caller). */
export interface ChardevLabel { label: string; filename: string }

/** Every monitor, -qmp/-monitor/-mon in command-line order, then those sharing a serial port's stdio. */
export function resolveMonitors(o: VmOptions): ResolvedMonitor[] {
  const chardevs = typedChardevs(o);
  const labels = monitorLabels(o);
  const result = o.monitors.map((m, i) => resolveOne(m, labels[i], chardevs));
  for (const { serial, label } of serialLabels(o)) {
    if (serial.kind === 'stdio' && serial.withMonitor) {
      // parseArgs adds mon:stdio for -nographic only when no -serial was given.
      const source = o.nographic && o.serials.length === 1 ? '-nographic' : '-serial mon:stdio';
      result.push({ protocol: 'hmp', where: { kind: 'stdio' }, wait: false, mux: true, label, filename: 'mux', source });
    }
  }
  return result;
}

/**
 * The chardev label of each entry of o.monitors: the -chardev id, or QEMU's
 * compat_monitorN for a chardev of its own (vl.c monitor_parse(): N counts
 * every -qmp and -monitor but 'none', chardev:ID included).
 */
export function monitorLabels(o: VmOptions): string[] {
  let compat = 0;
  return o.monitors.map((m) => {
    const label = m.endpoint.kind === 'chardev' ? m.endpoint.id : `compat_monitor${compat}`;
    if (m.option !== '-mon') compat++;
    return label;
  });
}

function resolveOne(m: MonitorSpec, label: string, chardevs: Map<string, Chardev>): ResolvedMonitor {
  const base = { protocol: m.protocol, label, source: m.source };
  const e = m.endpoint;
  switch (e.kind) {
    case 'stdio': return { ...base, where: { kind: 'stdio' }, wait: false, mux: false, filename: 'stdio' };
    case 'unix': case 'tcp': {
      const where = whereOf(e);
      return { ...base, where, wait: e.wait, mux: false, filename: disconnectedFilename(where) };
    }
    case 'chardev': {
      const c = chardevs.get(e.id);
      // QEMU: 'chardev "x" not found' (validateOptions says it first)
      if (!c) throw new UserError(`${m.source}: no -chardev with id '${e.id}'`);
      if (c.backend === 'null') throw new UserError(nullMonitorMessage(m.source, e.id));
      if (c.backend === 'stdio') return { ...base, where: { kind: 'stdio' }, wait: false, mux: c.mux, filename: c.mux ? 'mux' : 'stdio' };
      const where = whereOf(c.address);
      return { ...base, where, wait: c.wait, mux: false, filename: disconnectedFilename(where) };
    }
  }
}

/**
 * The warning for a TCP monitor that listens beyond this machine (QEMU says nothing):
 * whoever reaches it controls the guest. Loopback hosts get none. `port` is the bound one.
 */
export function exposedMonitorWarning(source: string, host: string, port: number): string | undefined {
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host) || /^::ffff:127\./i.test(host);
  if (loopback) return undefined;
  const where = host === '' || host === '0.0.0.0' || host === '::' ? 'every address' : host;
  return `${source}: the monitor listens on ${where}, so other machines can reach it: whoever reaches port ${port} controls the guest (use 127.0.0.1 to keep it local)`;
}

export function nullMonitorMessage(source: string, id: string): string {
  return `${source}: chardev '${id}' is a null chardev, which a monitor can neither read nor answer on; use a socket or stdio chardev`;
}

function whereOf(a: SocketAddress): ListenWhere {
  if (a.kind === 'unix') return { kind: 'unix', path: a.path };
  return { kind: 'tcp', host: a.host === '' ? '127.0.0.1' : a.host, port: a.port };
}

/**
 * QEMU's filename of a listening socket with no client (char-socket.c
 * qemu_chr_socket_address): "disconnected:unix:PATH,server=on",
 * "disconnected:tcp:HOST:PORT,server=on" (no brackets around IPv6).
 * For QEMU's exact text pass the address actually bound (port 0, host names).
 */
export function disconnectedFilename(where: ListenWhere): string {
  if (where.kind === 'unix') return `disconnected:unix:${where.path},server=on`;
  return `disconnected:tcp:${where.host === '' ? '0.0.0.0' : where.host}:${where.port},server=on`;
}

/**
 * QEMU's filename while a client is connected (char-socket.c
 * qemu_chr_compute_filename): "unix:PATH,server=on", or for TCP
 * "tcp:HOST:PORT,server=on <-> PEERHOST:PEERPORT", IPv6 hosts in brackets.
 * `where` should be the bound address; `peer` is the client's (TCP only).
 */
export function connectedFilename(where: ListenWhere, peer?: { host: string; port: number }): string {
  if (where.kind === 'unix') return `unix:${where.path},server=on`;
  const h = (host: string) => (host.includes(':') ? `[${host}]` : host);
  const p = peer ?? { host: '', port: 0 };
  return `tcp:${h(where.host === '' ? '0.0.0.0' : where.host)}:${where.port},server=on <-> ${h(p.host)}:${p.port}`;
}

/**
 * Every chardev QEMU would list in query-chardev for this command line (but
 * parallel0), as before any client connects, in creation order.
 */
export function resolveChardevs(o: VmOptions): ChardevLabel[] {
  const list: ChardevLabel[] = [];
  for (const c of typedChardevs(o).values()) {
    if (c.backend === 'null') list.push({ label: c.id, filename: 'null' });
    else if (c.backend === 'socket') list.push({ label: c.id, filename: disconnectedFilename(whereOf(c.address)) });
    else if (c.mux) list.push({ label: c.id, filename: 'mux' }, { label: `${c.id}-base`, filename: 'stdio' });
    else list.push({ label: c.id, filename: 'stdio' });
  }
  resolveMonitors(o).forEach((m, i) => {
    if (i < o.monitors.length && o.monitors[i].endpoint.kind !== 'chardev') list.push({ label: m.label, filename: m.filename });
  });
  for (const { serial, label } of serialLabels(o)) {
    switch (serial.kind) {
      case 'stdio':
        if (serial.withMonitor) list.push({ label, filename: 'mux' }, { label: `${label}-base`, filename: 'stdio' });
        else list.push({ label, filename: 'stdio' });
        break;
      case 'null': list.push({ label, filename: 'null' }); break;
      case 'file': list.push({ label, filename: 'file' }); break;
      case 'chardev': break; // an existing -chardev, listed above
    }
  }
  return list;
}

/**
 * query-chardev's label and filename for o.serials[index] (index 0 is COM1,
 * as QEMU's serial_hd(0)), or undefined for -serial none or no such port.
 */
export function serialChardev(o: VmOptions, index: number): ChardevLabel | undefined {
  const s = o.serials[index];
  if (!s || s.kind === 'none') return undefined;
  switch (s.kind) {
    case 'stdio': return { label: `serial${index}`, filename: s.withMonitor ? 'mux' : 'stdio' };
    case 'null': return { label: `serial${index}`, filename: 'null' };
    case 'file': return { label: `serial${index}`, filename: 'file' };
    case 'chardev': return resolveChardevs(o).find((c) => c.label === s.id);
  }
}

/**
 * The serial ports with a chardev, labelled as QEMU 7.2 does: serialN, N being
 * the position among all -serial options ('-serial none' takes a number but
 * makes nothing: -serial none -serial null -serial mon:stdio gives serial1 =
 * null, serial2 = mux, serial2-base = stdio); chardev:ID uses the -chardev's id.
 */
function serialLabels(o: VmOptions) {
  return o.serials.flatMap((serial, n) => (serial.kind === 'none' ? [] : [{ serial, label: serial.kind === 'chardev' ? serial.id : `serial${n}` }]));
}

function typedChardevs(o: VmOptions): Map<string, Chardev> {
  return new Map(o.chardevs.map((c) => [c.id, readChardev(c)]));
}
