/**
 * V8's background threads (concurrent GC marking; TurboFan is off, bin/pmemvm.cjs) run at the lowest
 * priority, so that on a busy or one-CPU host they take what the vCPUs, the device I/O
 * thread and the monitors leave, and never delay a guest's exit or a flush. Node starts
 * them before any JavaScript runs: its platform's delayed-task thread (a libuv loop, so
 * blocked in epoll_wait), then the workers, one after the other; tids are handed out in
 * order, so they are the threads right after the main one. Anything unexpected in that
 * picture and nothing is changed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setThreadNice } from '../sys/libc.js';

const EPOLL_WAIT = 232, EPOLL_PWAIT = 281; // x86-64 system call numbers
const LOWEST = 19;

/** The size of Node's V8 pool: --v8-pool-size from NODE_OPTIONS, then the command line (which wins), else 4. */
export function v8PoolSize(execArgv: readonly string[], nodeOptions: string | undefined): number {
  const args = [...(nodeOptions ?? '').split(/\s+/), ...execArgv];
  let size = 4;
  for (let i = 0; i < args.length; i++) {
    const m = /^--v8-pool-size(?:=(\d+))?$/.exec(args[i]!);
    if (!m) continue;
    const value = m[1] ?? args[i + 1];
    if (value !== undefined && /^\d+$/.test(value)) size = Number(value);
  }
  return size;
}

function syscallOf(tid: number): number {
  try { return Number(readFileSync(`/proc/self/task/${tid}/syscall`, 'latin1').split(' ')[0]); } catch { return -1; }
}

/** Lower V8's platform threads to nice 19; returns how many were lowered (0 if they were not found). */
export function lowerV8ThreadPriority(): number {
  const pool = v8PoolSize(process.execArgv, process.env.NODE_OPTIONS);
  if (pool < 1) return 0; // Node sizes a pool of 0 from the CPUs: not known here
  let tids: number[];
  try { tids = readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b); } catch { return 0; } // no /proc
  if (tids[0] !== process.pid || tids.length < 2 + pool) return 0;
  const scheduler = tids[1]!, workers = tids.slice(2, 2 + pool);
  const s = syscallOf(scheduler);
  if (s !== EPOLL_WAIT && s !== EPOLL_PWAIT) return 0;
  let lowered = 0;
  try {
    for (const t of workers) { setThreadNice(t, LOWEST); lowered++; }
  } catch { /* a sandbox may refuse setpriority: the threads keep their priority, nothing else changes */ }
  return lowered;
}
