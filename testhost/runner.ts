// Runs a command inside the test host: an L1 Linux VM under QEMU TCG (nested SVM) that
// sees this machine's root over 9p and has real KVM (kvm_amd nested=1) for pmemvm's guests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, isAbsolute } from 'node:path';
import { cacheDir, repoRoot } from './paths.js';

/**
 * The L1 CPU: every feature TCG can emulate (`max`, which brings SVM with nested paging),
 * under the identity of a current AMD server (family 1Ah, Zen 5). The test host stands in
 * for a real KVM host, and pmemvm shows guests the host's vendor, family and model. TCG's
 * own identity for `max` is family 0Fh (K8), a CPU that never had nested paging; guests
 * that see it take paths no real host's guest takes: Linux scans all 256 PCI buses twice
 * for a K8 GART aperture, some 16K config-space exits (~2 s here). Not family 19h: Linux
 * counts it as open to SRSO, and without the microcode bits TCG cannot offer (CPUID
 * 8000_0021h) every guest logs a "WARNING:" about it.
 *
 * Without ERMS and FSRM (fast `rep movsb`/`rep stosb`): with them the L1 kernel clears and
 * copies pages one byte per iteration, which TCG runs one iteration at a time, and a page
 * that held code a previous guest ran takes TCG's slow path on every store. Clearing the
 * pages of each boot's guest RAM and each VMM's own memory then took 2 to 5 s per boot, a
 * cost no real host has that hid both VMMs' own; with `rep stosq` it is an eighth
 * (bench/RESULTS.md, session 34). Guests never saw either feature (QEMU's qemu64).
 */
const TESTHOST_CPU = 'max,family=26,model=2,stepping=1,-erms,-fsrm';

export interface RunOptions {
  /** Working directory of the command inside the test host (default: process.cwd()). */
  cwd?: string;
  /** Give up after this long, all attempts together (default 75 min, under CI's 90). */
  timeoutMs?: number;
  /** Boot the test host again when it freezes (default 2 more times). */
  retries?: number;
  /** L1 memory in MiB or GiB, e.g. "8G" (default 8G; TCG allocates lazily). */
  memory?: string;
  /**
   * NVDIMMs for the L1 (QEMU nvdimm=on), each of PMEM_SIZE on a fresh sparse file in the
   * cache, removed after the run; inside they are region0, region1, ... with label-less
   * namespaces. Default: PMEMVM_TESTHOST_PMEM, else 2.
   */
  pmem?: number;
  /** Backing files for the L1's NVDIMMs (PMEM_SIZE_MIB each), kept after the run; instead of `pmem`. */
  pmemFiles?: string[];
  /** A raw disk image on this machine, shown to the L1 as a virtio-blk disk (/dev/vda). */
  disk?: string;
  /** Gets the command's output instead of stdout (the power-loss harness reads it). */
  onOutput?: (text: string) => void;
  /** Aborting it SIGKILLs the L1's QEMU: a power cut (the run then resolves to 137). */
  powerCut?: AbortSignal;
}

/** Size of each L1 NVDIMM: room for a devdax and an fsdax namespace of a few hundred MiB. */
export const PMEM_SIZE_MIB = 1024;

const MARKER = 'PMEMVM-TESTHOST-EXIT=';
const TICK_MS = 500;

/** Build (or find cached) guest and test host images; returns the test host image dir. */
export function buildImages(): string {
  const run = (script: string): string => {
    const r = spawnSync('bash', [join(repoRoot, script)], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status})`);
    return r.stdout.trim().split('\n').pop()!;
  };
  run('guest/build.sh'); // tests inside need it; the cache is read-only in there
  run('guest/fetch-installer.sh'); // a kernel and initramfs pmemvm did not build
  return run('testhost/build.sh');
}

/** POSIX shell single-quoting. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Directories the L1 cannot see through the read-only root (its /tmp, /run, ... are tmpfs). */
function hiddenInL1(p: string): boolean {
  return ['/tmp', '/run', '/var/tmp', '/dev', '/proc', '/sys'].some((d) => p === d || p.startsWith(d + '/'));
}

function isInside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/** The script the L1 init runs chrooted in the host root. */
function commandScript(argv: string[], cwd: string): string {
  const env: Record<string, string> = {
    PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/tmp/home',
    PMEMVM_IN_TESTHOST: '1',
    PMEMVM_CACHE: cacheDir(), // visible read-only at the same path
  };
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (k === 'CI' || k === 'LANG' || k.startsWith('PMEMVM_')) && !(k in env)) env[k] = v;
  }
  // The command's output reaches us through a pipe; keep colours when we are on a terminal.
  if (process.stdout.isTTY && !process.env.NO_COLOR && !('FORCE_COLOR' in process.env)) env.FORCE_COLOR = '1';
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shq(v)}`).join('\n');
  return `${exports}\nmkdir -p "$HOME"\ncd ${shq(cwd)} || exit 125\n${argv.map(shq).join(' ')}\n`;
}

/**
 * Run argv inside the test host; resolves to its exit status (124 timeout, 125 infrastructure).
 * QEMU 7.2's TCG can freeze the whole L1 (both CPUs spin with "soft lockup" reports, seen
 * about once in a few dozen boots): then nothing inside can finish, so the run starts over in
 * a fresh test host, saying so, up to `retries` times within the time limit.
 */
export async function runInTestHost(argv: string[], opts: RunOptions = {}): Promise<number> {
  const deadline = Date.now() + (opts.timeoutMs ?? 75 * 60_000);
  const retries = opts.retries ?? Number(process.env.PMEMVM_TESTHOST_RETRIES ?? 2);
  const image = buildImages();
  for (let attempt = 1; ; attempt++) {
    const r = await runOnce(argv, opts, image, deadline);
    if (!r.froze || opts.powerCut?.aborted) return r.status;
    const left = Math.round((deadline - Date.now()) / 60_000);
    if (attempt > retries || left < 5) {
      process.stderr.write(`testhost: the test host froze (${r.froze}) and there is no retry left; see ${join(cacheDir(), 'testhost-console.log')}\n`);
      return 125;
    }
    process.stderr.write(`testhost: the test host froze (${r.froze}; a QEMU TCG bug, not the command's fault): ` +
      `starting over in a fresh one, attempt ${attempt + 1} of ${retries + 1}\n`);
  }
}

/** L1 console evidence that the test host is frozen: a CPU stuck for this long. */
const FROZEN_AFTER_S = 90;
const FROZEN_RE = /soft lockup - CPU#\d+ stuck for (\d+)s/g;
/** ... or no heartbeat for this long (a freeze can also stop the L1 from reporting anything). */
const SILENT_AFTER_MS = 60_000;

async function runOnce(argv: string[], opts: RunOptions, image: string, deadline: number): Promise<{ status: number; froze: string | null }> {
  const cwd = opts.cwd ?? process.cwd();
  const timeoutMs = Math.max(0, deadline - Date.now());
  const cache = cacheDir();
  const verbose = !!process.env.PMEMVM_TESTHOST_VERBOSE;
  const t0 = Date.now();
  const tag = newHostTag();
  const pmem = pmemDevices(opts, cache, tag);

  const tmp = mkdtempSync(join(tmpdir(), 'pmemvm-testhost-'));
  const share = join(tmp, 'share');
  mkdirSync(share);
  // Read-write shares mounted at their own paths: the repo, and cwd / cache if the L1 can't see them.
  const rw = [repoRoot];
  if (hiddenInL1(cwd) && !rw.some((d) => isInside(cwd, d))) rw.push(cwd);
  if (hiddenInL1(cache) && !rw.some((d) => isInside(cache, d))) rw.push(cache);
  writeFileSync(join(share, 'mounts'), rw.map((d, i) => `work${i} ${d}\n`).join(''));
  writeFileSync(join(share, 'cmd.sh'), commandScript(argv, cwd));
  const tickSock = join(tmp, 'tick.sock');
  const monitorSock = join(tmp, 'monitor.sock');
  // Per-run L1 console log (concurrent runs), renamed to testhost-console.log when done.
  const consoleLog = join(cache, `testhost-console.${tag}.log`);
  const lastLog = join(cache, 'testhost-console.log');

  const p9 = (id: string, path: string, ro: boolean) => [
    '-fsdev', `local,id=${id},path=${path},security_model=none,multidevs=remap${ro ? ',readonly=on' : ''}`,
    '-device', `virtio-9p-pci,fsdev=${id},mount_tag=${id}`,
  ];
  const args = [
    // One L1 CPU: with two, QEMU 7.2's TCG loses inter-processor interrupts now and then and
    // the L1 hangs (seen: kvm_destroy_vm waiting forever in smp_call_function_many_cond);
    // with one, L2 boots are as fast (the host has few cores anyway) and no freeze was seen.
    // PMEMVM_TESTHOST_CPU / _SMP: knobs for chasing TCG bugs, not for everyday use.
    '-accel', 'tcg', '-cpu', process.env.PMEMVM_TESTHOST_CPU ?? TESTHOST_CPU, '-smp', process.env.PMEMVM_TESTHOST_SMP ?? '1',
    ...memoryArgs(opts.memory ?? '8G', pmem),
    ...(opts.disk ? ['-drive', `file=${opts.disk},format=raw,if=none,id=disk0,cache=writeback`, '-device', 'virtio-blk-pci,drive=disk0'] : []),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', join(image, 'vmlinux'), // ELF with a PVH note: skips ~3 s of TCG decompression
    '-initrd', join(image, 'initrd.img'),
    // loglevel=5: a soft lockup report comes with its backtrace, for the bug report.
    '-append', `console=ttyS0 quiet loglevel=5 panic=-1 ${process.env.PMEMVM_TESTHOST_APPEND ?? ''}`.trim(),
    '-serial', `file:${consoleLog}`,
    ...p9('hostroot', '/', true),
    ...p9('run', share, false),
    ...rw.flatMap((d, i) => p9(`work${i}`, d, false)),
    '-device', 'virtio-serial-pci',
    '-chardev', 'stdio,id=out,signal=off', '-device', 'virtconsole,chardev=out',
    '-chardev', `socket,id=tick,path=${tickSock},server=on,wait=off`,
    '-device', 'virtserialport,chardev=tick,name=pmemvm.tick',
    '-monitor', `unix:${monitorSock},server=on,wait=off`,
  ];
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'inherit'] });

  let marker: number | null = null;
  let firstOutput = 0;
  let pending = '';
  const emit = (text: string) => { if (text) (opts.onOutput ?? ((t: string) => process.stdout.write(t)))(text); };
  qemu.stdout.setEncoding('utf8');
  qemu.stdout.on('data', (chunk: string) => {
    if (!firstOutput) firstOutput = Date.now();
    const lines = (pending + chunk.replace(/\r\n/g, '\n')).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith(MARKER)) marker = Number(line.slice(MARKER.length));
      else emit(line + '\n');
    }
    // Show partial lines (prompts, progress) at once unless they could be the marker.
    if (pending && !MARKER.startsWith(pending) && !pending.startsWith(MARKER)) { emit(pending); pending = ''; }
  });

  // Keep an interrupt arriving: QEMU 7.2 TCG can otherwise freeze an idle L1.
  let tick: Socket | null = null;
  let stopped = false;
  let lastBeat = 0; // the L1 writes a byte every second once its init is up
  const tryConnect = () => {
    if (stopped) return;
    const s = connect(tickSock);
    s.on('connect', () => { tick = s; });
    s.on('data', () => { lastBeat = Date.now(); });
    s.on('error', () => { s.destroy(); if (!tick) setTimeout(tryConnect, 100); });
  };
  setTimeout(tryConnect, 50);
  const ticker = setInterval(() => { tick?.write('.'); }, TICK_MS);

  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; qemu.kill('SIGKILL'); }, timeoutMs);
  // Watch the L1 console for a freeze (see runInTestHost).
  let froze: string | null = null;
  let consoleSeen = 0;
  const watchdog = setInterval(() => {
    let text: string;
    try { text = readFileSync(consoleLog, 'latin1'); } catch { return; }
    const fresh = text.slice(Math.max(0, consoleSeen - 200));
    consoleSeen = text.length;
    for (const m of fresh.matchAll(FROZEN_RE)) {
      if (Number(m[1]) >= FROZEN_AFTER_S && !froze) freeze(`L1 ${m[0]}`);
    }
    if (lastBeat && Date.now() - lastBeat > SILENT_AFTER_MS && !froze) {
      freeze(`no heartbeat from the L1 for ${Math.round((Date.now() - lastBeat) / 1000)} s`);
    }
  }, 5_000);
  // Keep what QEMU knows about the frozen CPUs for the bug report, then kill it.
  const freeze = (why: string) => {
    froze = why;
    const mon = connect(monitorSock);
    let dump = `testhost froze: ${why}\n`;
    mon.on('data', (d) => { dump += d.toString('latin1'); });
    mon.on('error', () => {});
    mon.on('connect', () => mon.write('info registers -a\ninfo irq\n'));
    setTimeout(() => {
      try { writeFileSync(join(cache, 'testhost-freeze.log'), dump); } catch { /* best effort */ }
      mon.destroy();
      qemu.kill('SIGKILL');
    }, 2_000);
  };
  let signalled = 0;
  const onSignal = (sig: NodeJS.Signals) => { signalled = sig === 'SIGINT' ? 130 : 143; qemu.kill('SIGKILL'); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let cut = false;
  const onCut = () => { cut = true; qemu.kill('SIGKILL'); };
  if (opts.powerCut?.aborted) onCut();
  else opts.powerCut?.addEventListener('abort', onCut, { once: true });

  const qemuStatus = await new Promise<number | null>((res) => {
    qemu.on('close', (code) => res(code));
    qemu.on('error', (e) => { process.stderr.write(`testhost: cannot start qemu: ${e.message}\n`); res(null); });
  });
  stopped = true;
  clearInterval(ticker);
  clearInterval(watchdog);
  clearTimeout(timer);
  (tick as Socket | null)?.destroy();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  opts.powerCut?.removeEventListener('abort', onCut);
  emit(pending.startsWith(MARKER) ? '' : pending);

  let status: number;
  const statusFile = join(share, 'status');
  if (cut) {
    status = 137;
  } else if (froze) {
    status = 125;
  } else if (timedOut) {
    process.stderr.write(`testhost: timed out after ${timeoutMs} ms; QEMU killed\n`);
    status = 124;
  } else if (signalled) status = signalled;
  else if (marker !== null) status = marker;
  else if (existsSync(statusFile)) status = Number(readFileSync(statusFile, 'utf8').trim());
  else {
    process.stderr.write(`testhost: QEMU exited (${qemuStatus}) without a result; see ${lastLog}\n`);
    status = 125;
  }
  if (verbose) {
    process.stderr.write(`testhost: first output after ${((firstOutput || Date.now()) - t0) / 1000} s, ` +
      `total ${(Date.now() - t0) / 1000} s, status ${status}\n`);
  }
  try { renameSync(consoleLog, lastLog); } catch { /* QEMU never started */ }
  rmSync(tmp, { recursive: true, force: true });
  if (!opts.pmemFiles) for (const f of pmem) rmSync(f, { force: true });
  return { status, froze };
}

/** Test hosts this process has started. */
let hostsStarted = 0;

/** A name for a test host's files in the cache, its own though the suite runs two from one process. */
export function newHostTag(): string {
  return `${process.pid}-${++hostsStarted}`;
}

/**
 * Fresh sparse backing files for the L1's NVDIMMs, per run (`tag`): other runs share the cache,
 * the suite's two test hosts among them, which once named them by pid alone: the second one's
 * start truncated the first one's NVDIMMs under its DAX tests (ext4 checksum errors, soft lockups).
 */
export function pmemDevices(opts: RunOptions, cache: string, tag: string): string[] {
  if (opts.pmemFiles) return opts.pmemFiles;
  const n = opts.pmem ?? Number(process.env.PMEMVM_TESTHOST_PMEM ?? 2);
  if (!Number.isInteger(n) || n < 0 || n > 8) throw new Error(`testhost: pmem=${n}: want 0 to 8 NVDIMMs`);
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = join(cache, `testhost-pmem.${tag}.${i}.img`);
    writeFileSync(f, '');
    truncateSync(f, PMEM_SIZE_MIB * 1024 * 1024);
    files.push(f);
  }
  return files;
}

/** -machine/-m and one memory-backend-file + nvdimm per file (maxmem leaves room for them). */
export function memoryArgs(memory: string, pmem: string[]): string[] {
  if (pmem.length === 0) return ['-m', memory, '-machine', 'pc'];
  const m = /^(\d+)([MG])$/.exec(memory);
  if (!m) throw new Error(`testhost: memory=${memory}: give it as <N>M or <N>G`);
  const mib = Number(m[1]) * (m[2] === 'G' ? 1024 : 1);
  return [
    '-machine', 'pc,nvdimm=on',
    '-m', `${mib}M,slots=${pmem.length},maxmem=${mib + pmem.length * PMEM_SIZE_MIB}M`,
    ...pmem.flatMap((f, i) => [
      // share=on: the L2's stores reach this file, as they would reach a real DIMM.
      '-object', `memory-backend-file,id=pmem${i},share=on,mem-path=${f},size=${PMEM_SIZE_MIB}M`,
      '-device', `nvdimm,memdev=pmem${i},id=nvdimm${i}`,
    ]),
  ];
}
