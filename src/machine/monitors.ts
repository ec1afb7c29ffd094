/**
 * The monitors of one pmemvm run, wired to the machine: QMP and HMP sockets,
 * HMP on stdio (alone, or sharing it with the guest's console: Ctrl-A c), and
 * QMP events fanned out to every QMP client.
 *
 * A monitor answers at once even while vCPU 0 runs on the main thread: each
 * served client's socket, and a listener while it has no client, is armed
 * (O_ASYNC, F_SETSIG) so that input makes the kernel signal the main thread,
 * which leaves KVM_RUN and lets the event loop read it, instead of waiting for
 * the end of the vCPU's time slice.
 */
import { PassThrough } from 'node:stream';
import * as libc from '../sys/libc.js';
import { QmpEventHub, startMonitor, type Monitor } from '../monitor/server.js';
import { createHmpTerminal } from '../monitor/hmp-terminal.js';
import { QmpSession } from '../monitor/qmp-session.js';
import { HIGH_WATER, InputPump, SLICE_BYTES } from '../monitor/input-pump.js';
import type { MachineControl } from '../monitor/machine-control.js';
import type { GuestConsole } from './console.js';

export interface MonitorEndpoint {
  protocol: 'qmp' | 'hmp';
  where: { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } | { kind: 'stdio' };
  /** wait=on: the guest starts only once a client has connected. */
  wait: boolean;
  /** On stdio, shared with the guest's console (Ctrl-A c switches). */
  mux: boolean;
}

export interface RunMonitors {
  readonly hub: QmpEventHub;
  /** Resolves when every wait=on monitor has its first client. */
  readonly ready: Promise<void>;
  /** Per endpoint (same order), the bound address and the client served now, for socket monitors; null for stdio. */
  sockets(): ({ where: { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number }; client: { host: string; port: number } | 'unix' | null } | null)[];
  close(): Promise<void>;
}

export async function startMonitors(endpoints: readonly MonitorEndpoint[], machine: MachineControl, console: GuestConsole): Promise<RunMonitors> {
  const hub = new QmpEventHub();
  // Input on a monitor socket signals the main thread (see above). Its kick handler must be
  // in place before the first byte can arrive: the signal would otherwise end the process.
  const sig = libc.inputSignal();
  libc.installKickHandler(sig);
  const mainTid = libc.gettid();
  const wake = (fd: number, on: boolean) => {
    try {
      // Set up in full each time: a client's fd number may have been another socket's before.
      if (on) libc.signalThreadOnInput(fd, mainTid, sig); else libc.stopSignalOnInput(fd);
    } catch { /* only slower: input waits for the slice to end */ }
  };
  const sockets: Monitor[] = [];
  const byEndpoint: (Monitor | null)[] = [];
  const waits: Promise<void>[] = [];
  const closers: (() => void)[] = [];
  try {
    for (const e of endpoints) {
      if (e.where.kind === 'stdio') {
        closers.push(e.protocol === 'qmp' ? stdioQmp(machine, hub) : stdioHmp(machine, console, e.mux));
        byEndpoint.push(null);
        continue;
      }
      const address = e.where.kind === 'unix' ? { path: e.where.path } : { host: e.where.host, port: e.where.port };
      const m = await startMonitor({ mode: e.protocol, address, machine, hub, wake });
      sockets.push(m);
      byEndpoint.push(m);
      if (e.wait) waits.push(m.firstClient);
    }
  } catch (err) {
    await Promise.all(sockets.map((m) => m.close()));
    throw err;
  }
  return {
    hub,
    ready: Promise.all(waits).then(() => {}),
    sockets: () => byEndpoint.map((m) => {
      if (!m) return null;
      const where = 'path' in m.address ? { kind: 'unix' as const, path: m.address.path } : { kind: 'tcp' as const, ...m.address };
      return { where, client: m.client() };
    }),
    async close() {
      for (const c of closers) c();
      await Promise.all(sockets.map((m) => m.close()));
    },
  };
}

/**
 * HMP on the terminal. Sharing stdio with the console (-nographic, -serial
 * mon:stdio), the keys go to the guest until Ctrl-A c; alone (-monitor stdio),
 * the monitor reads stdin itself.
 */
function stdioHmp(machine: MachineControl, console: GuestConsole, mux: boolean): () => void {
  if (!mux) {
    const term = createHmpTerminal(process.stdin, process.stdout, machine);
    term.attach();
    return () => { term.detach(); process.stdin.pause(); };
  }
  const input = new PassThrough();
  const term = createHmpTerminal(input, process.stdout, machine, { terminal: Boolean(process.stdout.isTTY) });
  console.attachMonitor((bytes) => input.write(bytes), (on) => (on ? term.attach() : term.detach()));
  return () => { term.detach(); input.end(); };
}

/** QMP on stdin/stdout (-qmp stdio): one session for the life of the process, fed as a socket client is (input-pump.ts). */
function stdioQmp(machine: MachineControl, hub: QmpEventHub): () => void {
  const { stdin, stdout } = process;
  const session = new QmpSession({ machine, write: (t) => { stdout.write(t); }, onReady: () => pump.resume() });
  const pump = new InputPump(stdin, session, SLICE_BYTES.qmp, () => stdout.writableLength > HIGH_WATER);
  hub.add(session);
  stdout.write(session.greeting());
  const onData = (d: Buffer) => pump.push(d);
  stdin.on('data', onData);
  stdout.on('drain', pump.resume);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdout.off('drain', pump.resume);
    stdin.pause();
    pump.close();
    hub.delete(session);
    session.close();
  };
}
