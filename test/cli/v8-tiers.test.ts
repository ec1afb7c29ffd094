// bin/pmemvm.cjs starts V8 without TurboFan, whose compiles and their aftermath were the slow
// virtio-pmem flushes' extra milliseconds on a busy CPU (bench/RESULTS.md, session 24), and
// without Sparkplug until there is work to compile for: `pmemvm img` turns on V8's batches,
// which compile code that runs once only in a batch, never at its first call (session 25:
// compiling all of it at its first call cost start-up time; since session 29 such code has its
// feedback vector after its first call, and so joins a batch). Seen through V8's own traces of
// `pmemvm img check`, whose label decoding loops long enough that TurboFan takes it otherwise
// (on-stack replacement). Seen failing: with --always-sparkplug from the start, imgMain was
// compiled with no batch. What the guest's time adds (every function Sparkplug code from its
// first call): test/guest/v8-tiers.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';
import { privatePmemvm } from '../lib/private-pmemvm.js';
import { batched, compiledTo, turbofanLines } from '../lib/v8-trace.js';

test('V8 tiers: no function of pmemvm is TurboFan code (decodeLabelArea\'s hot loop is Sparkplug code), and start-up code is compiled only in V8\'s batches (imgMain, run once)', () => {
  // A private copy: these trace flags would make the shared code cache be refused and replaced.
  const root = privatePmemvm('pmemvm-tiers-');
  try {
    const bin = join(root, 'bin', 'pmemvm.cjs');
    const img = join(root, 'labels.img');
    const made = spawnSync(process.execPath, [...pmemvmNodeArgs().slice(0, -1), bin, 'img', 'create', img, '64M'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(made.status, 0, made.stderr);
    const r = spawnSync(process.execPath, [...pmemvmNodeArgs().slice(0, -1), '--trace-opt', '--trace-baseline', '--trace-baseline-batch-compilation', bin, 'img', 'check', img],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(compiledTo(r.stdout, 'decodeLabelArea', 'BASELINE'), 'decodeLabelArea, a hot loop, was compiled by Sparkplug');
    assert.ok(!compiledTo(r.stdout, 'imgMain', 'BASELINE') || batched(r.stdout, 'imgMain'), 'imgMain, called once, was not compiled at its first call (only in a batch, if at all)');
    assert.deepEqual(turbofanLines(r.stdout), [], 'nothing was optimized by TurboFan');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
