// bin/pmemvm.cjs runs pmemvm's code in V8's baseline tier only: each function is compiled to
// machine code (Sparkplug) at its first call and never recompiled by TurboFan, whose compiles
// and their aftermath were the slow virtio-pmem flushes' extra milliseconds on a busy CPU
// (bench/RESULTS.md, session 24). Seen through V8's own traces of `pmemvm img check`, whose
// label decoding loops long enough that TurboFan takes it otherwise (on-stack replacement).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';
import { privatePmemvm } from '../lib/private-pmemvm.js';

test('V8 tiers: every function of pmemvm is Sparkplug code from its first call (imgMain, run once) and none is TurboFan code (decodeLabelArea\'s hot loop)', () => {
  // A private copy: these trace flags would make the shared code cache be refused and replaced.
  const root = privatePmemvm('pmemvm-tiers-');
  try {
    const bin = join(root, 'bin', 'pmemvm.cjs');
    const img = join(root, 'labels.img');
    const made = spawnSync(process.execPath, [...pmemvmNodeArgs().slice(0, -1), bin, 'img', 'create', img, '64M'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(made.status, 0, made.stderr);
    const r = spawnSync(process.execPath, [...pmemvmNodeArgs().slice(0, -1), '--trace-opt', '--trace-baseline', bin, 'img', 'check', img],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    const compiled = (name: string, target: string) => r.stdout.includes(`<SharedFunctionInfo ${name}> (target ${target})`)
      || new RegExp(`<JSFunction ${name} \\(sfi = [^)]*\\)> \\(target ${target}\\)`).test(r.stdout);
    assert.ok(compiled('imgMain', 'BASELINE'), 'imgMain, called once, was compiled by Sparkplug at its first call');
    assert.ok(compiled('decodeLabelArea', 'BASELINE'), 'decodeLabelArea was compiled by Sparkplug');
    const turbofan = r.stdout.split('\n').filter((l) => l.includes('TURBOFAN'));
    assert.deepEqual(turbofan, [], 'nothing was optimized by TurboFan');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
