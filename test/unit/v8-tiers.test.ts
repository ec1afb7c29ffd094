// What bin/pmemvm.cjs and src/machine/v8-tiers.ts ask of V8, seen through V8's own view of a
// function's tier (natives syntax) in child nodes started as bin/pmemvm.cjs starts them.
// Before the machine's build begins, nothing is compiled by Sparkplug, however often it runs.
// After: a function first called then is Sparkplug code from that call; so is a method whose
// bytecode came from a code cache written as the entry writes it (under the build's flags, set
// back before the cache is made), first called once the build has begun, as the flush path's are.
// Seen failing: with --always-sparkplug alone (V8's batches) a function was still in the
// interpreter after 40 calls (bench/RESULTS.md, session 27); with batches off the cached method
// stayed there for good; with feedback vectors made at the first call, for 200 (session 28);
// with V8's budget for a feedback vector (8 times the bytecode), it took 11 (session 29); with
// Sparkplug on from the start, V8's batches had compiled start-up's code before the switch (session 33).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeModuleCacheVerdicts, startV8Flags } from '../lib/v8-flags.js';
import { ENTRY_V8_FLAGS, GUEST_TIME_V8_FLAGS, START_UP_V8_FLAGS, V8_DEFAULT_FLAGS } from '../../src/machine/v8-tiers.js';

const TIERS = new URL('../../src/machine/v8-tiers.js', import.meta.url).href;
const TIER_OF = "const tier = (f) => %ActiveTierIsSparkplug(f) ? 'sparkplug' : %ActiveTierIsIgnition(f) ? 'interpreter' : 'other';";

const IN_ONE_RUN = `
import { compileAtFirstCallFromNowOn, ENTRY_V8_FLAGS, FLAGS_TO_RESTORE, START_UP_V8_FLAGS } from '${TIERS}';
${TIER_OF}
function small(a) { return a[0]; }
function later(a) { return a.length > 1 ? a[0] + a[1] : 0; }
function often(a) { return a[0] * 2 + (a[1] | 0); }
for (let i = 0; i < 3; i++) small([i]); // start-up: run a few times
for (let i = 0; i < 2000; i++) often([i, 1]); // start-up: run often
// and the rest of start-up's code once, enough of it to fill the batches V8 would compile
for (let i = 0; i < 300; i++) new Function('a', 'let s = ' + i + '; for (const x of a) s += x * ' + i + '; return s;')([1, 2]);
const before = tier(small), oftenBefore = tier(often);
compileAtFirstCallFromNowOn();
later([1, 2]);
const firstCalledNow = tier(later);
console.log(JSON.stringify({ before, oftenBefore, firstCalledNow, restore: globalThis[FLAGS_TO_RESTORE], startUp: [...ENTRY_V8_FLAGS, ...START_UP_V8_FLAGS].join(' ') }));
`;

// The bundle's shape: a CommonJS wrapper whose classes the code cache holds. "make" runs the
// method under the guest's flags and writes the cache as bin/pmemvm.cjs does; "use" takes it,
// runs start-up code, then calls the method for the first time once the guest's flags are set.
const ACROSS_RUNS = `
import { compileAtFirstCallFromNowOn, FLAGS_TO_RESTORE } from '${TIERS}';
import { readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';
${TIER_OF}
const [mode, cacheFile] = process.argv.slice(-2);
const source = \`(function () {
  class Bus {
    constructor() { this.regions = [{ a: 0, e: 100 }, { a: 200, e: 300 }]; this.at = 0; }
    find(x) { for (let i = 0; i < this.regions.length; i++) { const r = this.regions[i]; if (x >= r.a && x < r.e) return r; } return null; }
    write(lo, b) { const r = this.find(lo); if (!r) return false; this.at = lo - r.a + b[0]; return true; }
  }
  return Bus;
})\`;
const script = new vm.Script(source, { filename: 'bundle.js', cachedData: mode === 'use' ? readFileSync(cacheFile) : undefined });
const Bus = script.runInThisContext()();
const bus = new Bus();
for (let i = 0; i < 20; i++) bus.find(i); // start-up
compileAtFirstCallFromNowOn();
let calls = 0;
while (calls < 200 && (calls === 0 || tier(bus.write) !== 'sparkplug')) bus.write(calls++ % 10 * 25, [1]);
console.log(JSON.stringify({ rejected: script.cachedDataRejected ?? null, calls }));
if (mode === 'make') {
  setFlagsFromString(globalThis[FLAGS_TO_RESTORE]);
  writeFileSync(cacheFile, script.createCachedData());
}
`;

const child = (source: string, ...args: string[]): Record<string, unknown> => {
  const out = execFileSync(process.execPath, [...startV8Flags(), '--allow-natives-syntax', '--input-type=module', '-e', source, ...args], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
};

test('V8 tiers: before the machine\'s build nothing is Sparkplug code, however often it ran; from then on a function is from its first call; the flags to set back before the code cache is written are left for bin/pmemvm.cjs', () => {
  const r = child(IN_ONE_RUN);
  assert.equal(r.before, 'interpreter', 'start-up code is not compiled at its first call');
  assert.equal(r.oftenBefore, 'interpreter', 'nor after 2000 calls and 300 other functions: no batch compiles it either');
  assert.equal(r.firstCalledNow, 'sparkplug', 'a function first called once the build has begun is Sparkplug code after that call');
  assert.equal(r.restore, r.startUp, 'bin/pmemvm.cjs finds the flags to set back');
});

test('V8 tiers: a method whose bytecode came from the code cache, first called once the guest runs, is Sparkplug code from the end of that call', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-v8-tiers-'));
  try {
    const cacheFile = join(dir, 'bundle.js.v8cache');
    const made = child(ACROSS_RUNS, 'make', cacheFile);
    assert.equal(made.calls, 1, 'compiled from source under the guest\'s flags: Sparkplug code from its first call');
    const used = child(ACROSS_RUNS, 'use', cacheFile);
    assert.equal(used.rejected, false, 'the next start takes the code cache (the flags were set back)');
    assert.equal(used.calls, 1, 'a method from the code cache is Sparkplug code after its first call (its feedback vector, and so its tick, come at its end)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The code cache is made and taken under V8's flags at start: what the entry sets back must be
// those, bin/pmemvm.cjs's or V8's own defaults, or every start would refuse the cache the last one wrote.
test('V8 tiers: the flags set back before the code cache is written are those V8 starts with', () => {
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const atStart = startV8Flags();
  for (const flag of START_UP_V8_FLAGS) {
    assert.ok(atStart.includes(flag) || options.includes(`default: ${flag}\n`), `${flag} is set by bin/pmemvm.cjs or V8's default (node --v8-options)`);
  }
});

// A worker's isolate loads about 90 of Node's modules to start, each with a code cache V8 takes
// only under its default flags: the vCPU threads start under those (src/kvm/vcpus.ts).
test('V8 tiers: ENTRY_V8_FLAGS are bin/pmemvm.cjs\'s; V8_DEFAULT_FLAGS are V8\'s own default of every flag pmemvm changes', () => {
  assert.deepEqual(ENTRY_V8_FLAGS, startV8Flags(), 'the flags bin/pmemvm.cjs sets at start');
  const name = (flag: string) => flag.replace(/^--(no-)?/, '').replace(/=.*$/, '');
  const changed = new Set([...ENTRY_V8_FLAGS, ...GUEST_TIME_V8_FLAGS, ...START_UP_V8_FLAGS].map(name));
  assert.deepEqual(new Set(V8_DEFAULT_FLAGS.map(name)), changed, 'a default for each flag pmemvm changes, and for no other');
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  for (const flag of V8_DEFAULT_FLAGS) assert.ok(options.includes(`default: ${flag}\n`), `${flag} is V8's default (node --v8-options)`);
});

// Seen failing: with the workers started under pmemvm's flags, Node refused the caches of
// worker_threads, zlib and the worker's own start (internal/main/worker_thread and the rest).
const WORKER_UNDER_DEFAULTS = `
import { compileAtFirstCallFromNowOn, setV8Defaults } from '${TIERS}';
compileAtFirstCallFromNowOn();
const workersStarted = setV8Defaults();
const { Worker } = await import('node:worker_threads');
await new Promise((res, rej) => {
  // An ES module, as the child's --input-type says for it too.
  const w = new Worker("import 'node:zlib'; import { parentPort } from 'node:worker_threads'; parentPort.postMessage('up');", { eval: true });
  w.once('message', res);
  w.once('error', rej);
});
workersStarted();
await import('node:dgram'); // under pmemvm's flags again
`;

test('V8 tiers: a worker started under setV8Defaults compiles Node\'s modules with their code caches; pmemvm\'s flags are back after', () => {
  const r = spawnSync(process.execPath, [...startV8Flags(), '--input-type=module', '-e', WORKER_UNDER_DEFAULTS],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_DEBUG_NATIVE: 'CODE_CACHE' } });
  assert.equal(r.status, 0, r.stderr);
  const { accepted, rejected } = nodeModuleCacheVerdicts(r.stderr);
  for (const m of ['worker_threads', 'internal/main/worker_thread', 'zlib']) {
    assert.ok(accepted.includes(m), `node:${m} with its code cache; refused: ${rejected.join(' ')}`);
    assert.ok(!rejected.includes(m), `node:${m} compiled from source`);
  }
  assert.ok(rejected.includes('dgram'), 'node:dgram, loaded once the workers were up, was compiled under pmemvm\'s flags (set back)');
});
