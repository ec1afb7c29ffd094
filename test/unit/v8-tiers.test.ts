// What src/machine/v8-tiers.ts asks of V8 when the vCPUs start, seen through V8's own view of
// a function's tier (natives syntax) in a child node started as bin/pmemvm.cjs starts: a small
// function that ran before (its bytecode there, as the code cache gives the flush path) is
// Sparkplug code within its next ten calls, by its own budget, not after a batch of others
// has filled; one first called then is Sparkplug code from that call; before, code stays in
// the interpreter. With --always-sparkplug alone (V8's batches), the first was still in the
// interpreter after 40 calls, and a guest's first dozen flushes ran partly there
// (bench/RESULTS.md, session 27).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startV8Flags } from '../lib/v8-flags.js';

const CHILD = `
import { compileAtFirstCallFromNowOn, FLAGS_TO_RESTORE, START_UP_V8_FLAGS } from '${new URL('../../src/machine/v8-tiers.js', import.meta.url).href}';
const tier = (f) => %ActiveTierIsSparkplug(f) ? 'sparkplug' : %ActiveTierIsIgnition(f) ? 'interpreter' : 'other';
function small(a) { return a[0]; }
function later(a) { return a.length > 1 ? a[0] + a[1] : 0; }
for (let i = 0; i < 3; i++) small([i]); // start-up: run a few times
const before = tier(small);
compileAtFirstCallFromNowOn();
for (let i = 0; i < 10; i++) small([i]);
const ranBefore = tier(small);
later([1, 2]);
const firstCalledNow = tier(later);
console.log(JSON.stringify({ before, ranBefore, firstCalledNow, restore: globalThis[FLAGS_TO_RESTORE], startUp: START_UP_V8_FLAGS.join(' ') }));
`;

test('V8 tiers: from the vCPUs\' start, a function that ran before is Sparkplug code within ten calls, one called first from that call; the flags to set back before the code cache is written are left for bin/pmemvm.cjs', () => {
  const out = execFileSync(process.execPath, [...startV8Flags(), '--allow-natives-syntax', '--input-type=module', '-e', CHILD], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, string>;
  assert.equal(r.before, 'interpreter', 'start-up code stays in the interpreter');
  assert.equal(r.ranBefore, 'sparkplug', 'a function whose bytecode was there is Sparkplug code within ten calls once the guest runs');
  assert.equal(r.firstCalledNow, 'sparkplug', 'a function first called once the guest runs is Sparkplug code after that call');
  assert.equal(r.restore, r.startUp, 'bin/pmemvm.cjs finds the flags to set back');
});
