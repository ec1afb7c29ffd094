// V8's platform threads are found by position and lowered to nice 19. The check runs in
// real Node processes: the lowered threads must be the ones doing V8's background work
// (TurboFan compiles, concurrent marking), and libuv's pool, which runs pmemvm's async file
// work, must keep its priority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { v8PoolSize } from '../../src/machine/v8-threads.js';

const MODULE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'machine', 'v8-threads.js');

test('v8PoolSize: --v8-pool-size from NODE_OPTIONS, then the command line; else 4', () => {
  assert.equal(v8PoolSize([], undefined), 4);
  assert.equal(v8PoolSize(['--v8-pool-size=2'], undefined), 2);
  assert.equal(v8PoolSize([], '--max-old-space-size=100 --v8-pool-size=1'), 1);
  assert.equal(v8PoolSize(['--v8-pool-size=3'], '--v8-pool-size=1'), 3); // the command line comes last
  assert.equal(v8PoolSize(['--v8-pool-size=0'], undefined), 0);
  assert.equal(v8PoolSize(['--v8-pool-size', '3'], undefined), 3);
  assert.equal(v8PoolSize(['--v8-pool-size'], undefined), 4); // no value: Node would refuse it
});

// The child: lower, then load libuv's pool (pbkdf2) and V8's (many hot functions and a
// large live heap), and report each thread's nice value and CPU ticks gained under each.
const CHILD = `
import { readdirSync, readFileSync } from 'node:fs';
import { pbkdf2 } from 'node:crypto';
import { lowerV8ThreadPriority } from ${JSON.stringify(MODULE)};
const lowered = lowerV8ThreadPriority();
const stat = () => new Map(readdirSync('/proc/self/task').map((t) => {
  const f = readFileSync('/proc/self/task/' + t + '/stat', 'latin1').split(') ')[1].split(' ');
  return [Number(t), { ticks: Number(f[11]) + Number(f[12]), nice: Number(f[16]) }];
}));
const diff = (a, b) => Object.fromEntries([...b].map(([t, v]) => [t, v.ticks - (a.get(t)?.ticks ?? 0)]));
const s0 = stat();
await Promise.all([1, 2].map(() => new Promise((r) => pbkdf2('p', 's', 400000, 32, 'sha256', r))));
const s1 = stat();
const keep = [];
for (let i = 0; i < 300; i++) {
  const f = new Function('a', 'b', 'let s = 0; for (let k = 0; k < a.length; k++) s += a[k] * ' + i + ' + (b[k % b.length] | 0); return { s, i: ' + i + ', a: [s, a.length] };');
  const a = [1, 2, 3, 4, 5, 6, 7, 8], b = [i, i + 1];
  for (let n = 0; n < 3000; n++) keep.push(f(a, b));
  if (keep.length > 400000) keep.splice(0, 200000);
}
const s2 = stat();
console.log(JSON.stringify({ lowered, main: process.pid, nice: Object.fromEntries([...s2].map(([t, v]) => [t, v.nice])), libuv: diff(s0, s1), v8: diff(s1, s2) }));
`;

function runChild(poolSize: number) {
  const out = execFileSync(process.execPath, [`--v8-pool-size=${poolSize}`, '--input-type=module', '-e', CHILD], { encoding: 'utf8' });
  return JSON.parse(out) as { lowered: number; main: number; nice: Record<string, number>; libuv: Record<string, number>; v8: Record<string, number> };
}

for (const pool of [4, 2]) {
  test(`lowerV8ThreadPriority, --v8-pool-size=${pool}: V8's workers get nice 19, libuv's pool and the main thread keep 0`, () => {
    const r = runChild(pool);
    assert.equal(r.lowered, pool);
    const lowered = Object.keys(r.nice).filter((t) => r.nice[t] === 19);
    assert.equal(lowered.length, pool, JSON.stringify(r));
    assert.equal(r.nice[r.main], 0);
    const busiest = (d: Record<string, number>) => Object.keys(d).filter((t) => Number(t) !== r.main).sort((a, b) => d[b]! - d[a]!)[0]!;
    // pbkdf2 runs on libuv's pool: its busiest thread is not one that was lowered.
    assert.ok(r.libuv[busiest(r.libuv)]! > 0, JSON.stringify(r));
    assert.equal(r.nice[busiest(r.libuv)], 0, JSON.stringify(r));
    // V8's background compiles and marking ran on the lowered threads.
    const v8Ticks = lowered.reduce((s, t) => s + r.v8[t]!, 0);
    assert.ok(v8Ticks > 0, JSON.stringify(r));
  });
}
