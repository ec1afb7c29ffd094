// The V8 flags pmemvm runs under, read from their sources so that tests follow them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pmemvmNodeArgs } from '../../testhost/paths.js';
import { GUEST_TIME_V8_FLAGS } from '../../src/machine/v8-tiers.js';

/** Those bin/pmemvm.cjs sets at start, before the bundle is compiled (its unindented lines). */
export function startV8Flags(): string[] {
  const bin = pmemvmNodeArgs().at(-1)!;
  const flags = [...readFileSync(bin, 'utf8').matchAll(/^v8\.setFlagsFromString\('([^']+)'\);$/gm)].map((m) => m[1]!);
  assert.ok(flags.length > 0, `${bin} sets V8 flags`);
  return flags;
}

/** Those a guest's devices run under: the start's, and those set when the machine's build begins (src/machine/v8-tiers.ts). */
export function guestTimeV8Flags(): string[] {
  return [...startV8Flags(), ...GUEST_TIME_V8_FLAGS];
}

/**
 * Node's verdict on each of its modules' code caches in `text` (the output of a run with
 * NODE_DEBUG_NATIVE=CODE_CACHE): V8 refuses one made under other flags than the run's.
 */
export function nodeModuleCacheVerdicts(text: string): { accepted: string[]; rejected: string[] } {
  const verdicts = [...text.matchAll(/^Code cache of (\S+) \(\w+\) is (accepted|rejected)$/gm)];
  const named = (v: string) => verdicts.filter((m) => m[2] === v).map((m) => m[1]!);
  return { accepted: named('accepted'), rejected: named('rejected') };
}
