/**
 * Monitor endpoints: a unix socket or TCP port serving QMP or HMP to one client at a time,
 * as QEMU's `-qmp`/`-monitor unix:PATH,server=on` do.
 *
 * - A unix socket is created with mode 0600 and no moment when it is wider: it is bound
 *   inside a fresh 0700 directory beside PATH, chmod'ed, then renamed onto PATH. It is
 *   removed on close and at process exit. TCP listens on 127.0.0.1 unless told otherwise.
 * - One client at a time: further clients are accepted but not read from or written to
 *   until the current one leaves (QEMU leaves them in the listen backlog); at most
 *   MAX_WAITING wait, beyond that a new connection is closed.
 * - Bounded memory and time: input is fed to the session in slices (input-pump.ts), reading
 *   pausing while the session is busy, while the client has more than a MiB of replies
 *   unread, and once the event-loop turn's budget for monitor input is spent (vCPU 0 runs
 *   on this thread); a client whose unread output passes maxOutputBytes (events keep
 *   coming) is disconnected.
 * - Events go to every negotiated QMP session of every monitor sharing a QmpEventHub.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { withV8Defaults } from '../machine/v8-tiers.js';
import type { MachineControl } from './machine-control.js';
import { QmpSession, eventText, type Timestamp } from './qmp-session.js';
import { HmpSession } from './hmp-session.js';
import type { JsonLimits } from './json-stream.js';
import { HIGH_WATER, InputPump, SLICE_BYTES } from './input-pump.js';

export type MonitorMode = 'qmp' | 'hmp';
export type MonitorAddress = { path: string } | { host?: string; port: number };

export interface MonitorOptions {
  mode: MonitorMode;
  address: MonitorAddress;
  machine: MachineControl;
  /** Shared by all monitors so events reach every QMP client. */
  hub?: QmpEventHub;
  /**
   * Whether input on a socket should take the main thread out of the guest at once (on) or
   * may wait for the next event-loop turn (off): a served client's always; the listener's
   * only while no client is served, so connections that can only wait (QEMU leaves them in
   * the listen backlog) do not interrupt vCPU 0 one by one.
   */
  wake?(fd: number, on: boolean, kind: 'listen' | 'client'): void;
  /** Unread reply bytes after which a client is dropped (default 8 MiB). */
  maxOutputBytes?: number;
  limits?: JsonLimits;
}

export interface Monitor {
  readonly mode: MonitorMode;
  /** The unix path, or the TCP host and the port actually bound (port 0 picks one). */
  readonly address: { path: string } | { host: string; port: number };
  /** Resolves when the first client connects (QEMU's wait=on waits for it before starting the guest). */
  readonly firstClient: Promise<void>;
  /** The client being served now, if any (query-chardev's filename says whether one is connected). */
  client(): { host: string; port: number } | 'unix' | null;
  /** Stops listening, disconnects clients, removes the socket file. */
  close(): Promise<void>;
}

const MAX_WAITING = 16;

/** Fans events out to the negotiated QMP sessions. */
export class QmpEventHub {
  private readonly sessions = new Set<QmpSession>();

  add(s: QmpSession): void { this.sessions.add(s); }
  delete(s: QmpSession): void { this.sessions.delete(s); }

  /** Sends `{"event": name, "timestamp": ..., "data": ...}` to every negotiated QMP client. */
  emit(name: string, data?: Record<string, unknown>, timestamp?: Timestamp): void {
    const text = eventText(name, data, timestamp);
    for (const s of this.sessions) s.event(text);
  }
}

function handleFd(h: unknown): number | undefined {
  const fd = (h as { _handle?: { fd?: number } } | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Socket paths still to remove when the process exits. */
const livePaths = new Set<string>();
let exitHook = false;
function removeAtExit(p: string): void {
  livePaths.add(p);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const q of livePaths) try { fs.unlinkSync(q); } catch { /* already gone */ }
  });
}

/**
 * server.listen(), whose first call loads node:cluster and with it ten more of Node's modules:
 * under V8's defaults, so that they compile with their code caches (src/machine/v8-tiers.ts).
 */
function listen(server: net.Server, at: string | net.ListenOptions, listening: () => void): void {
  withV8Defaults(() => server.listen(at, listening));
}

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SUN_PATH = 107;

/** Binds a unix socket that is 0600 from the moment anyone can reach it. */
async function listenUnix(server: net.Server, target: string): Promise<void> {
  const tmpLen = Buffer.byteLength(path.join(path.dirname(target), '.pmemvm-sock-XXXXXX', 's'));
  if (tmpLen > MAX_SUN_PATH) return listenUnixUmask(server, target);
  const dir = fs.mkdtempSync(path.join(path.dirname(target), '.pmemvm-sock-')); // mode 0700
  const tmp = path.join(dir, 's');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      listen(server, tmp, () => { server.off('error', reject); resolve(); });
    });
    fs.chmodSync(tmp, 0o600);
    try { fs.unlinkSync(target); } catch { /* none there: QEMU also replaces a stale socket */ }
    fs.renameSync(tmp, target);
  } finally {
    // Not rmSync's recursive removal: it loads a module of Node's of its own.
    try { fs.unlinkSync(tmp); } catch { /* renamed to the target, or never bound */ }
    try { fs.rmdirSync(dir); } catch { /* it held only tmp */ }
  }
}

/**
 * For a path too long to take the detour through a private directory: bind under umask
 * 0177. Node binds synchronously inside listen(), so the umask is restored at once; it is
 * process-wide, so a file another thread creates in that instant is at worst made 0600.
 */
async function listenUnixUmask(server: net.Server, target: string): Promise<void> {
  try { fs.unlinkSync(target); } catch { /* none there */ }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const old = process.umask(0o177);
    try {
      listen(server, target, () => { server.off('error', reject); resolve(); });
    } finally {
      process.umask(old);
    }
  });
}

export async function startMonitor(opts: MonitorOptions): Promise<Monitor> {
  const maxOutput = opts.maxOutputBytes ?? 8 << 20;
  const waiting: net.Socket[] = [];
  const all = new Set<net.Socket>();
  let current: net.Socket | undefined;
  let resolveFirst!: () => void;
  const firstClient = new Promise<void>((r) => { resolveFirst = r; });

  const serve = (sock: net.Socket) => {
    current = sock;
    resolveFirst();
    const fd = handleFd(sock);
    if (lfd !== undefined) opts.wake?.(lfd, false, 'listen');
    if (fd !== undefined) opts.wake?.(fd, true, 'client');
    let gone = false;
    const write = (data: string | Buffer) => {
      if (gone || sock.destroyed) return;
      sock.write(data);
      if (sock.writableLength > maxOutput) sock.destroy(); // not reading: drop it, never stall
    };
    const ready = () => pump.resume();
    let session: QmpSession | HmpSession;
    if (opts.mode === 'qmp') {
      const q = new QmpSession({
        machine: opts.machine, write, limits: opts.limits, onReady: ready,
      });
      opts.hub?.add(q);
      session = q;
      write(q.greeting());
    } else {
      const h = new HmpSession({ machine: opts.machine, write, onReady: ready });
      session = h;
      write(h.greeting());
    }
    const pump = new InputPump(sock, session, SLICE_BYTES[opts.mode], () => sock.writableLength > HIGH_WATER);
    sock.on('data', (d: Buffer) => pump.push(d));
    sock.on('drain', pump.resume);
    sock.on('error', () => { /* reset by peer etc.: 'close' follows */ });
    sock.once('close', () => {
      gone = true;
      pump.close();
      session.close();
      if (session instanceof QmpSession) opts.hub?.delete(session);
      all.delete(sock);
      current = undefined;
      next();
    });
    sock.resume();
  };

  const next = () => {
    while (!current && waiting.length) {
      const s = waiting.shift()!;
      if (!s.destroyed) serve(s);
    }
    if (!current && lfd !== undefined && server.listening) opts.wake?.(lfd, true, 'listen');
  };

  let lfd: number | undefined;
  const server = net.createServer({ pauseOnConnect: true }, (sock) => {
    all.add(sock);
    sock.once('close', () => {
      all.delete(sock);
      const i = waiting.indexOf(sock);
      if (i >= 0) waiting.splice(i, 1);
    });
    if (!current) { serve(sock); return; }
    if (waiting.length >= MAX_WAITING) { sock.destroy(); return; }
    waiting.push(sock);
  });

  let address: Monitor['address'];
  if ('path' in opts.address) {
    await listenUnix(server, opts.address.path);
    removeAtExit(opts.address.path);
    address = { path: opts.address.path };
  } else {
    const host = opts.address.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      listen(server, { host, port: (opts.address as { port: number }).port }, () => { server.off('error', reject); resolve(); });
    });
    address = { host, port: (server.address() as net.AddressInfo).port };
  }
  lfd = handleFd(server);
  if (lfd !== undefined) opts.wake?.(lfd, true, 'listen');

  return {
    mode: opts.mode,
    address,
    firstClient,
    client: () => {
      if (!current) return null;
      if ('path' in address) return 'unix';
      return { host: current.remoteAddress ?? '', port: current.remotePort ?? 0 };
    },
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      // Let what was written (quit's reply, the last events) reach the clients, briefly.
      await Promise.all([...all].map((s) => new Promise<void>((r) => {
        const timer = setTimeout(() => { s.destroy(); r(); }, 200);
        s.end(() => { clearTimeout(timer); s.destroy(); r(); });
      })));
      await closed;
      if ('path' in address) {
        try { fs.unlinkSync(address.path); } catch { /* already gone */ }
        livePaths.delete(address.path);
      }
    },
  };
}
