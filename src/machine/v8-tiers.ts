/**
 * V8's tiers while the guest runs. bin/pmemvm.cjs starts V8 without TurboFan (--no-opt) and
 * leaves start-up code to V8's batches of Sparkplug compiles: Node's own modules, pmemvm's, the
 * command line and the machine's build run once, and compiling each of them at its first call
 * cost more than running it (bench/RESULTS.md, session 25). From the moment the vCPUs start, every function V8 compiles
 * is compiled by Sparkplug too, at its first call. A function whose bytecode is already there
 * starts in the interpreter and tiers up at its budget's first tick, at the end of its first
 * call (bin/pmemvm.cjs sets that budget: 8 times the bytecode spread the flush path's ticks
 * over the guest's first 600 ms of flushes, session 29): those from the code cache (the flush
 * path, after a first run wrote it) and those start-up ran. Two things V8 does got in the way
 * (bench/RESULTS.md, sessions 27 and 28):
 * - the tick only queues the function for a batch, compiled once 4 KB of bytecode gather, so
 *   a guest's first dozen flushes ran partly in the interpreter, 2 to 3 times slower; and with
 *   batches turned off instead, what start-up had queued stayed there for good. So batches
 *   stay, of any size: each tick compiles the queue.
 * - a feedback vector made at a function's first call (not V8's default: they are lazy) comes
 *   with the budget of a tier-up to TurboFan (66 KB of bytecode run) before its first tick,
 *   hundreds of calls: the flush path ran in the interpreter for a whole guest run (a third of
 *   its time). So feedback vectors stay lazy: made at that tick, at the end of the first call.
 * The flags are the process's: device and vCPU workers follow them. bin/pmemvm.cjs sets them
 * back before it writes the code cache, which V8 checks against the flags it was compiled under.
 */
import { setFlagsFromString } from 'node:v8';

/** Each flag as the guest's time sets it, and as V8 has it at start (its default, as the code cache was made). */
const TIERS: ReadonlyArray<readonly [guestTime: string, startUp: string]> = [
  ['--always-sparkplug', '--no-always-sparkplug'],
  ['--baseline-batch-compilation-threshold=0', '--baseline-batch-compilation-threshold=4096'],
];

/** V8's flags from the moment the vCPUs start. */
export const GUEST_TIME_V8_FLAGS = TIERS.map(([g]) => g);

/** The same flags at V8's defaults, as the code cache was compiled under. */
export const START_UP_V8_FLAGS = TIERS.map(([, s]) => s);

/** Where bin/pmemvm.cjs finds what to set back before it writes the code cache (it does not import the bundle). */
export const FLAGS_TO_RESTORE = Symbol.for('pmemvm.v8-flags-to-restore');

/** From now on V8 compiles each function to baseline code at its first call, or within a few calls where its bytecode was there. */
export function compileAtFirstCallFromNowOn(): void {
  (globalThis as Record<symbol, unknown>)[FLAGS_TO_RESTORE] = START_UP_V8_FLAGS.join(' ');
  setFlagsFromString(GUEST_TIME_V8_FLAGS.join(' '));
}
