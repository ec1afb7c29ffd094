/**
 * V8's tiers while the guest runs. bin/pmemvm.cjs starts V8 without TurboFan (--no-opt) and
 * leaves start-up code in the interpreter: Node's own modules, pmemvm's, the command line and
 * the machine's build run once, and compiling each of them first cost more than running it
 * (bench/RESULTS.md, session 25). From the moment the vCPUs start, every function V8 compiles
 * is compiled by Sparkplug too, at its first call. That is every function whose bytecode is
 * not in the code cache; one whose bytecode is (the flush path, after a first run wrote it)
 * starts in the interpreter and reaches Sparkplug by V8's budget, after a few calls (session
 * 25, seen in V8's traces). The flag is the process's: device and vCPU workers follow it.
 * bin/pmemvm.cjs sets it back before it writes the code cache, which V8 checks against the
 * flags it was compiled under.
 */
import { setFlagsFromString } from 'node:v8';

export const GUEST_TIME_V8_FLAG = '--always-sparkplug';

/** From now on V8 compiles each function to baseline code at its first call. */
export function compileAtFirstCallFromNowOn(): void {
  setFlagsFromString(GUEST_TIME_V8_FLAG);
}
