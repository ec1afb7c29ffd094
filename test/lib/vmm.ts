// A VMM (pmemvm or QEMU) started with a guest image and a QMP socket, for tests that
// drive a running guest through its monitor: output collected as it comes, waits on it,
// and a connected QmpClient.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { makeScriptInitrd } from './cpio.js';
import { DEFAULT_APPEND, guestImage } from './guest.js';
import { QmpClient } from '../../src/monitor/client.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';


export interface StartVmmOptions {
  vmm: 'pmemvm' | 'qemu';
  /** Extra QEMU-style arguments (machine, memory, devices, -S, -monitor ...); a function gets the private directory (for sockets and files). */
  args?: string[] | ((dir: string) => string[]);
  /** The guest's /run.sh. */
  script: string;
  /** Connect a QMP client (default true). */
  qmp?: boolean;
  /**
   * The guest image's kernel file (default the vmlinux, for both VMMs: no decompression in
   * the guest, 3-5 s less per boot in the test host).
   */
  kernel?: 'bzImage' | 'vmlinux';
  /** Extra environment for the VMM. */
  env?: Record<string, string>;
  /** The VMM's stdin: a pipe (default), or /dev/null as a service manager gives it. */
  stdin?: 'pipe' | 'devnull';
}

export interface RunningVmm {
  readonly child: ChildProcess;
  /** A private directory for sockets and files, removed by close(). */
  readonly dir: string;
  readonly qmpPath: string;
  qmp: QmpClient;
  /** Everything printed so far (stdout + stderr, \r\n normalised). */
  output(): string;
  /** Resolves once the output matches (from `from` on); rejects after `timeoutMs` with the output (after a SIGUSR1 state dump from pmemvm). */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  /** The exit code, once the VMM has exited. */
  readonly exited: Promise<number | null>;
  /** The exit code; rejects with the output (after a SIGUSR1 state dump from pmemvm) if the VMM still runs after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<number | null>;
  /** Kill the VMM if it still runs and remove the directory. */
  close(): Promise<void>;
}

export async function startVmm(o: StartVmmOptions): Promise<RunningVmm> {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-vmm-'));
  const qmpPath = join(dir, 'qmp.sock');
  const img = guestImage();
  const initrd = await makeScriptInitrd(img.initrd, o.script);
  const common = ['-initrd', initrd, '-append', DEFAULT_APPEND, '-qmp', `unix:${qmpPath},server=on,wait=off`,
    ...(typeof o.args === 'function' ? o.args(dir) : o.args ?? [])];
  const [cmd, argv] = o.vmm === 'qemu'
    ? ['qemu-system-x86_64', ['-accel', 'kvm', '-cpu', 'host', '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio', '-kernel', img[o.kernel ?? 'vmlinux'], ...common]]
    : [process.execPath, [...pmemvmNodeArgs(), '-nographic', '-kernel', img[o.kernel ?? 'vmlinux'], ...common]];
  if (o.vmm === 'qemu' && !common.includes('-machine')) argv.push('-machine', 'pc');
  // In its private directory, so relative paths typed at the monitor (the documents' mem-path=new_nvdimm.img) land there.
  const child = spawn(cmd, argv, { cwd: dir, stdio: [o.stdin === 'devnull' ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: o.env ? { ...process.env, ...o.env } : process.env });
  let out = '';
  const waiters = new Set<() => void>();
  // \r\n may be split between two chunks: hold a trailing \r back until the next one.
  let cr = '';
  const onData = (s: string) => {
    s = cr + s;
    cr = s.endsWith('\r') ? '\r' : '';
    out += (cr ? s.slice(0, -1) : s).replace(/\r\n/g, '\n');
    for (const w of waiters) w();
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  child.stdin?.on('error', () => {});
  const exited = new Promise<number | null>((res) => child.on('close', (code) => { for (const w of waiters) w(); res(code); }));
  let done = false;
  void exited.then(() => { done = true; });

  /** pmemvm (still running) prints its vCPUs' and devices' state (SIGUSR1); resolves once it had time to. */
  const stateDump = async () => {
    if (o.vmm !== 'pmemvm' || done) return;
    child.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 2000));
  };

  const waitFor = (re: RegExp, timeoutMs = 120_000, from = 0) => new Promise<RegExpExecArray>((res, rej) => {
    const check = () => {
      const m = new RegExp(re.source, re.flags.replace('g', '')).exec(out.slice(from));
      if (m) { cleanup(); res(m); return; }
      if (done) { cleanup(); rej(new Error(`the VMM exited before ${re} appeared:\n${out.slice(-4000)}`)); }
    };
    const timer = setTimeout(() => {
      cleanup();
      // A hang explains itself: pmemvm prints its vCPUs' and devices' state first.
      void stateDump().then(() => rej(new Error(`no ${re} within ${timeoutMs} ms:\n${out.slice(-6000)}`)));
    }, timeoutMs);
    const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
    waiters.add(check);
    check();
  });

  const exit = async (timeoutMs = 120_000) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), timeoutMs); });
    const code = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (code !== 'late') return code;
    await stateDump();
    throw new Error(`the VMM still runs after ${timeoutMs} ms:\n${out.slice(-6000)}`);
  };

  const close = async () => {
    if (!done) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    rmSync(dirname(initrd), { recursive: true, force: true });
  };
  try {
    for (let i = 0; !existsSync(qmpPath); i++) {
      if (done || i > 600) throw new Error(`no QMP socket at ${qmpPath}:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const qmp = o.qmp === false ? (undefined as unknown as QmpClient) : await QmpClient.connect(qmpPath);
    if (qmp) {
      // An event that never comes explains itself as a waitFor does: pmemvm's state, then the output.
      const waitEvent = qmp.waitEvent.bind(qmp);
      qmp.waitEvent = (name, pred, timeoutMs) => waitEvent(name, pred, timeoutMs).catch(async (e: Error) => {
        await stateDump();
        throw new Error(`${e.message}:\n${out.slice(-6000)}`);
      });
    }
    return { child, dir, qmpPath, qmp, output: () => out, waitFor, exited, exit, close };
  } catch (e) {
    await close();
    throw e;
  }
}
