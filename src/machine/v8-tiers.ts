/**
 * V8's tiers from the machine's build on. bin/pmemvm.cjs starts V8 without TurboFan (--no-opt)
 * and without Sparkplug: Node's own modules, pmemvm's top level, the command line and the
 * backends run once, and compiling them cost more than running them, at their first calls
 * (session 25) and in V8's batches, which queued every function that had run (0.29 s of the
 * test host's 2.7 s to KVM_RUN, nearly half of it clearing the fresh pages baseline code is
 * written to: perf, session 33). From the moment the machine's build begins, every function V8
 * compiles is compiled by Sparkplug too, at its first call. A function whose bytecode is already there
 * (from the code cache: the devices' and the flush path's, after a first run wrote it) starts in
 * the interpreter and tiers up at its budget's first tick, at the end of its first call
 * (bin/pmemvm.cjs sets that budget: 8 times the bytecode spread the flush path's ticks over the
 * guest's first 600 ms of flushes, session 29). Three things V8 does got in the way
 * (bench/RESULTS.md, sessions 27, 28 and 33):
 * - the tick only queues the function for a batch, compiled once 4 KB of bytecode gather, so
 *   a guest's first dozen flushes ran partly in the interpreter, 2 to 3 times slower; and with
 *   batches turned off instead, what start-up had queued stayed there for good. So batches
 *   stay, of any size: each tick compiles the queue.
 * - a feedback vector made at a function's first call (not V8's default: they are lazy) comes
 *   with the budget of a tier-up to TurboFan (66 KB of bytecode run) before its first tick,
 *   hundreds of calls: the flush path ran in the interpreter for a whole guest run (a third of
 *   its time). So feedback vectors stay lazy: made at that tick, at the end of the first call.
 * - a function that ran before the build (the command line's, the backends') got its vector,
 *   and with it that long budget, while Sparkplug was off: it stays in the interpreter for
 *   hundreds of calls more. So the switch comes before any of the machine's code runs, and the
 *   guest's hot paths (devices, exits, the flush path) start after it.
 * The flags are the process's: device and vCPU workers follow them, except while Node's
 * modules load and vCPU workers start (setV8Defaults). bin/pmemvm.cjs sets them back before it
 * writes the code cache, which V8 checks against the flags it was compiled under.
 */
import { setFlagsFromString } from 'node:v8';

/** Each flag as the machine's build sets it, and as V8 has it at start (as bin/pmemvm.cjs sets it or V8's default; the code cache is made under these). */
const TIERS: ReadonlyArray<readonly [guestTime: string, startUp: string]> = [
  ['--sparkplug', '--no-sparkplug'], // bin/pmemvm.cjs starts V8 without it
  ['--always-sparkplug', '--no-always-sparkplug'],
  ['--baseline-batch-compilation-threshold=0', '--baseline-batch-compilation-threshold=4096'],
];

/** Those bin/pmemvm.cjs sets before the bundle is compiled (test/unit/v8-tiers.test.ts holds them to its lines). */
export const ENTRY_V8_FLAGS: readonly string[] = ['--no-opt', '--interrupt-budget-factor-for-feedback-allocation=0', '--no-sparkplug'];

/**
 * V8's own default of every flag pmemvm changes (ENTRY_V8_FLAGS and TIERS; the unit test checks
 * both against `node --v8-options`). Node compiles each of its modules with a code cache made
 * under these, and V8 takes a cache only under the flags it was made under.
 */
export const V8_DEFAULT_FLAGS: readonly string[] = ['--opt', '--interrupt-budget-factor-for-feedback-allocation=8', '--sparkplug',
  '--no-always-sparkplug', '--baseline-batch-compilation-threshold=4096'];

/** The TIERS flags set now (none: as at start). */
let tierFlags: readonly string[] = [];

/** V8's flags from the moment the machine's build begins. */
export const GUEST_TIME_V8_FLAGS = TIERS.map(([g]) => g);

/** The same flags as V8 has them at start, as the code cache was compiled under. */
export const START_UP_V8_FLAGS = TIERS.map(([, s]) => s);

/** Where bin/pmemvm.cjs finds what to set back before it writes the code cache (it does not import the bundle). */
export const FLAGS_TO_RESTORE = Symbol.for('pmemvm.v8-flags-to-restore');

/**
 * Sparkplug as V8 has it by default (in batches, for what ran long enough): for `pmemvm img`,
 * which builds no machine and whose work is its loops (a label area's decoding).
 */
export function sparkplugInBatchesFromNowOn(): void { setFromNowOn(['--sparkplug']); }

/** From now on V8 compiles each function to baseline code at its first call, or within a few calls where its bytecode was there. */
export function compileAtFirstCallFromNowOn(): void { setFromNowOn(GUEST_TIME_V8_FLAGS); }

/** How many callers want V8's defaults now (setV8Defaults): pmemvm's flags come back when none does. */
let defaultsWanted = 0;

/**
 * V8's defaults until the returned function is called, for Node's modules to compile with their
 * code caches: under pmemvm's flags V8 refuses every one, and a module loaded after the entry's
 * start is compiled from source. Worker isolates start under them (a worker loads about 90 of
 * Node's modules before its first line of pmemvm's: a vCPU thread took 1.9 s to start in the
 * test host, while the guest waited for it, bench/RESULTS.md, session 35), and Node's modules
 * loaded later (withV8Defaults). Call it where nothing of the guest's runs meanwhile: V8 may
 * optimize, and compiles what it meets without Sparkplug.
 */
export function setV8Defaults(): () => void {
  leaveFlagsToRestore();
  if (defaultsWanted++ === 0) setFlagsFromString(V8_DEFAULT_FLAGS.join(' '));
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--defaultsWanted === 0) setFlagsFromString([...ENTRY_V8_FLAGS, ...tierFlags].join(' '));
  };
}

/** `load()` under V8's defaults: a synchronous first load of Node's modules (lazy-builtins.ts, a monitor's listen). */
export function withV8Defaults<T>(load: () => T): T {
  const restore = setV8Defaults();
  try {
    return load();
  } finally {
    restore();
  }
}

/** Set `flags`, leaving bin/pmemvm.cjs those to set back before it writes the code cache. */
function setFromNowOn(flags: readonly string[]): void {
  leaveFlagsToRestore();
  tierFlags = flags;
  if (defaultsWanted === 0) setFlagsFromString(flags.join(' '));
}

/** All of V8's flags as the bundle was compiled under, whatever was changed since: bin/pmemvm.cjs sets them before it writes the code cache. */
function leaveFlagsToRestore(): void {
  (globalThis as Record<symbol, unknown>)[FLAGS_TO_RESTORE] = [...ENTRY_V8_FLAGS, ...START_UP_V8_FLAGS].join(' ');
}
