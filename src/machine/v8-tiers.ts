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
 * The flags are the process's: device and vCPU workers follow them. bin/pmemvm.cjs sets them
 * back before it writes the code cache, which V8 checks against the flags it was compiled under.
 */
import { setFlagsFromString } from 'node:v8';

/** Each flag as the machine's build sets it, and as V8 has it at start (as bin/pmemvm.cjs sets it or V8's default; the code cache is made under these). */
const TIERS: ReadonlyArray<readonly [guestTime: string, startUp: string]> = [
  ['--sparkplug', '--no-sparkplug'], // bin/pmemvm.cjs starts V8 without it
  ['--always-sparkplug', '--no-always-sparkplug'],
  ['--baseline-batch-compilation-threshold=0', '--baseline-batch-compilation-threshold=4096'],
];

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

/** Set `flags`, leaving bin/pmemvm.cjs those to set back before it writes the code cache. */
function setFromNowOn(flags: readonly string[]): void {
  (globalThis as Record<symbol, unknown>)[FLAGS_TO_RESTORE] = START_UP_V8_FLAGS.join(' ');
  setFlagsFromString(flags.join(' '));
}
