/**
 * V8's tiers while the guest runs. bin/pmemvm.cjs starts V8 without TurboFan (--no-opt) and
 * leaves start-up code in the interpreter: Node's own modules, pmemvm's, the command line and
 * the machine's build run once, and compiling each of them first cost more than running it
 * (bench/RESULTS.md, session 25). From the moment the vCPUs start, every function V8 compiles
 * is compiled by Sparkplug too, at its first call; and a function whose bytecode is already
 * there (from the code cache: the flush path, after a first run wrote it) gets Sparkplug code
 * within a few calls, by its own budget, with feedback from its first call. V8's defaults made
 * such a function wait for a batch of 4 KB of bytecode and for a budget of calls run without
 * feedback (no inline caches), so a guest's first dozen flushes ran partly in the interpreter,
 * 2 to 3 times slower: the cold p99 (bench/RESULTS.md, session 27). The flags are the
 * process's: device and vCPU workers follow them. bin/pmemvm.cjs sets them back before it
 * writes the code cache, which V8 checks against the flags it was compiled under.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's flags from the moment the vCPUs start. */
export const GUEST_TIME_V8_FLAGS = ['--always-sparkplug', '--no-lazy-feedback-allocation', '--no-baseline-batch-compilation'] as const;

/** The same flags back at V8's defaults, as the code cache was compiled under: each one negated. */
export const START_UP_V8_FLAGS = GUEST_TIME_V8_FLAGS.map((f) => (f.startsWith('--no-') ? `--${f.slice(5)}` : `--no-${f.slice(2)}`));

/** Where bin/pmemvm.cjs finds what to set back before it writes the code cache (it does not import the bundle). */
export const FLAGS_TO_RESTORE = Symbol.for('pmemvm.v8-flags-to-restore');

/** From now on V8 compiles each function to baseline code at its first call, with feedback from the first. */
export function compileAtFirstCallFromNowOn(): void {
  (globalThis as Record<symbol, unknown>)[FLAGS_TO_RESTORE] = START_UP_V8_FLAGS.join(' ');
  setFlagsFromString(GUEST_TIME_V8_FLAGS.join(' '));
}
