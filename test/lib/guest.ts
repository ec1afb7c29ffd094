// Boots the pmemvm guest image under pmemvm or QEMU (the reference) and collects its
// serial console: tests compare what the guest sees under each VMM.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { makeScriptInitrd, type CpioEntry } from './cpio.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

export interface GuestImage {
  dir: string;
  bzImage: string;
  vmlinux: string;
  initrd: string;
}

export interface RunGuestOptions {
  vmm: 'pmemvm' | 'qemu';
  /** QEMU-style VMM arguments (both VMMs); -kernel/-initrd/-append default to the guest image, -nographic to the console on stdio. */
  args: string[];
  /** Becomes /run.sh in an initrd appended archive: the guest runs it and powers off. */
  script?: string;
  extraFiles?: CpioEntry[];
  /** Kill the VMM after this long (default 120 s). */
  timeoutMs?: number;
  /**
   * Written to the VMM's stdin (the guest console) once the guest prints PMEMVM-GUEST-READY;
   * then stdin is closed. A function is called then with the VMM's pid (to look at the running
   * process, e.g. its /proc/PID/smaps) and returns the input.
   */
  input?: string | ((pid: number) => string);
  /** Kill the VMM as soon as its output matches (a guest that never powers off). */
  until?: RegExp;
  /**
   * pmemvm only: if it is still running this long after the start, send it SIGUSR1 so
   * that it prints where the guest is (every vCPU, the IOAPIC, the devices) into the output
   * before the timeout kills it: a stuck guest explains itself in the test's failure.
   * With its console on stdio (no -serial) and no `input`, the guest is also asked through
   * magic SysRq (a break on the serial line, Ctrl-A b) for its blocked tasks and every
   * CPU's backtrace; the script enables SysRq first for that.
   */
  dumpAfterMs?: number;
  /** Extra environment for the VMM (e.g. PMEMVM_DEBUG=1). */
  env?: Record<string, string>;
  /**
   * Run the VMM under this command (e.g. strace's argv up to the traced program). The
   * wrapper and the VMM form their own process group, killed whole on timeout: a
   * tracer killed alone leaves its tracee running, holding the console pipe open.
   */
  wrap?: string[];
}

export interface GuestResult {
  /** Everything the VMM printed (stdout + stderr), \r\n normalised. */
  output: string;
  exitCode: number | null;
  /** pmemvm's PMEMVM_DEBUG lines ("pmemvm: debug: ..."), kept out of `output` so they cannot split the guest's blocks. */
  debug: string[];
  /** N from the guest's PMEMVM-GUEST-EXIT=N line, null if it never printed one. */
  guestExit: number | null;
  ms: number;
}


/** Default kernel command line: serial console, quiet, and a panic ends the VM at once. */
export const DEFAULT_APPEND = 'console=ttyS0 quiet panic=-1';

/** Paths of the built guest image (guest/build.sh); throws if it isn't built. */
export function guestImage(): GuestImage {
  const cache = process.env.PMEMVM_CACHE || join(homedir(), '.cache', 'pmemvm');
  const link = join(cache, 'guest');
  if (!existsSync(join(link, '.done'))) {
    throw new Error(`pmemvm guest image not built: ${link} is missing; run guest/build.sh`);
  }
  const dir = realpathSync(link);
  return { dir, bzImage: join(dir, 'bzImage'), vmlinux: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.img') };
}

function has(args: string[], ...flags: string[]): boolean {
  return args.some((a) => flags.includes(a));
}

/** Both VMMs take QEMU-style options; fill in kernel/initrd/append and the console plumbing. */
function vmmCommand(vmm: RunGuestOptions['vmm'], args: string[], initrd: string): [string, string[]] {
  const img = guestImage();
  const a: string[] = [];
  if (vmm === 'qemu') {
    // -nodefaults + -serial stdio: ttyS0 is our pipes; -no-reboot: panic=-1 ends QEMU.
    a.push('-accel', 'kvm', '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio', '-no-reboot');
    if (!has(args, '-machine', '-M')) a.push('-machine', 'pc');
  } else if (!has(args, '-nographic', '-serial', '-display')) a.push('-nographic');
  // Both VMMs get the same kernel file, the vmlinux the bzImage decompresses to: it skips the
  // in-guest decompressor (3-5 s of each boot under nested KVM in the test host). The bzImage
  // boot has tests of its own (boot.test.ts, the power-loss harness, the Debian installer).
  if (!has(args, '-kernel')) a.push('-kernel', img.vmlinux);
  if (!has(args, '-initrd')) a.push('-initrd', initrd);
  if (!has(args, '-append')) a.push('-append', DEFAULT_APPEND);
  const cmd = vmm === 'qemu' ? 'qemu-system-x86_64' : process.execPath;
  const pre = vmm === 'qemu' ? [] : pmemvmNodeArgs();
  return [cmd, [...pre, ...a, ...args]];
}

/** Boot the guest, wait for the VMM to exit (or the timeout), return its console output. */
export async function runGuest(opts: RunGuestOptions): Promise<GuestResult> {
  const t0 = Date.now();
  // The script is appended to the caller's -initrd if given, else to the image's.
  const args = [...opts.args];
  const at = args.indexOf('-initrd');
  const base = at >= 0 && at + 1 < args.length ? args[at + 1]! : guestImage().initrd;
  const sysrq = opts.vmm === 'pmemvm' && opts.dumpAfterMs !== undefined && opts.input === undefined && opts.script !== undefined && !has(args, '-serial');
  const script = sysrq ? `echo 1 > /proc/sys/kernel/sysrq\n${opts.script}` : opts.script;
  const initrd = script !== undefined ? await makeScriptInitrd(base, script, opts.extraFiles) : base;
  if (at >= 0) args[at + 1] = initrd;
  const [vmmCmd, vmmArgv] = vmmCommand(opts.vmm, args, initrd);
  const wrapped = !!opts.wrap?.length;
  const [cmd, argv] = wrapped ? [opts.wrap![0]!, [...opts.wrap!.slice(1), vmmCmd, ...vmmArgv]] : [vmmCmd, vmmArgv];
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, detached: wrapped });
  const kill = () => {
    try { if (wrapped) process.kill(-child.pid!, 'SIGKILL'); else child.kill('SIGKILL'); } catch { /* gone already */ }
  };
  // The VMM's pid: the wrapper's child when wrapped.
  const vmmPid = (): number[] => {
    if (!wrapped) return child.pid ? [child.pid] : [];
    try { return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
  };
  let output = '';
  const debug: string[] = [];
  let inputSent = opts.input === undefined;
  child.stdin.on('error', () => {}); // the VMM may exit before reading its input
  if (inputSent && !sysrq) child.stdin.end(); // kept open for the SysRq keys
  const onData = (s: string) => {
    output += s;
    // Type the input only once the guest's console is open (a UART drops early bytes).
    if (opts.until && opts.until.test(output)) kill();
    if (!inputSent && output.includes('PMEMVM-GUEST-READY')) {
      inputSent = true;
      const input = opts.input!;
      child.stdin.end(typeof input === 'string' ? input : input(vmmPid()[0] ?? child.pid!));
    }
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  // Each debug line is one write of a whole line, so it arrives whole in one chunk.
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    onData(s.replace(/^pmemvm: debug: .*\n/gm, (line) => { debug.push(line.trimEnd()); return ''; }));
  });

  const timer = setTimeout(kill, opts.timeoutMs ?? 120_000);
  const dump = opts.vmm === 'pmemvm' && opts.dumpAfterMs !== undefined
    ? setTimeout(() => {
      for (const pid of vmmPid()) { try { process.kill(pid, 'SIGUSR1'); } catch { /* exited */ } }
      // SysRq 9: every message on the console (the tasks' dumps are KERN_INFO); w: blocked tasks; l: backtraces.
      if (sysrq) for (const [i, key] of ['9', 'w', 'l'].entries()) setTimeout(() => child.stdin.write(`\x01b${key}`), 300 * i);
    }, opts.dumpAfterMs) : undefined;
  const exitCode = await new Promise<number | null>((res) => {
    child.on('close', (code) => res(code));
    child.on('error', (e) => { output += `runGuest: cannot start ${cmd}: ${e.message}\n`; res(null); });
  });
  clearTimeout(timer);
  clearTimeout(dump);
  if (initrd !== base) rmSync(dirname(initrd), { recursive: true, force: true });

  output = output.replace(/\r\n/g, '\n');
  const m = /PMEMVM-GUEST-EXIT=(\d+)/.exec(output);
  return { output, exitCode, debug, guestExit: m ? Number(m[1]) : null, ms: Date.now() - t0 };
}
