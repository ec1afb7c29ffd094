// From the machine's build on, every function V8 compiles is Sparkplug code from its first call
// (src/machine/v8-tiers.ts); before, nothing is compiled by Sparkplug, not even in V8's batches
// (bin/pmemvm.cjs: --no-sparkplug); TurboFan never runs. Seen through V8's own traces of a boot
// to the guest's power-off, from a private copy with no code cache (with one, a function whose
// bytecode it holds is not compiled at its first call, and reaches Sparkplug by V8's budget
// instead). Seen failing with Sparkplug on from the start: loadLinux went through a batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';
import { privatePmemvm } from '../lib/private-pmemvm.js';
import { guestImage, DEFAULT_APPEND } from '../lib/guest.js';
import { makeScriptInitrd } from '../lib/cpio.js';
import { batched, compiledTo, turbofanLines } from '../lib/v8-trace.js';

test('V8 tiers in a boot without a code cache: a function compiled once the machine\'s build began is Sparkplug code from its first call (loadLinux before the guest ran, onPoweroff after, each once), one called before is not Sparkplug code at all (parseArgs), none is TurboFan code', async () => {
  const img = guestImage();
  const initrd = await makeScriptInitrd(img.initrd, 'true');
  // A private copy: these trace flags would make the shared code cache be refused and replaced.
  const root = privatePmemvm('pmemvm-tiers-');
  try {
    const r = spawnSync(process.execPath, [...pmemvmNodeArgs().slice(0, -1), '--trace-opt', '--trace-baseline', '--trace-baseline-batch-compilation', join(root, 'bin', 'pmemvm.cjs'),
      '-machine', 'pc', '-m', '256M', '-kernel', img.vmlinux, '-initrd', initrd, '-append', DEFAULT_APPEND, '-nographic'],
    { input: '', encoding: 'utf8', timeout: 240_000, maxBuffer: 256 << 20 });
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout.slice(-3000)}`);
    assert.match(r.stdout, /PMEMVM-GUEST-EXIT=0/, 'the guest ran its init and powered off');
    assert.ok(compiledTo(r.stdout, 'onPoweroff', 'BASELINE'), 'onPoweroff, called once when the guest powered off, was compiled by Sparkplug');
    assert.ok(compiledTo(r.stdout, 'loadLinux', 'BASELINE') && !batched(r.stdout, 'loadLinux'), 'loadLinux, called once while the machine was built, was compiled by Sparkplug at its first call');
    assert.ok(!compiledTo(r.stdout, 'parseArgs', 'BASELINE') && !batched(r.stdout, 'parseArgs'), 'parseArgs, called once before the machine\'s build, was not compiled by Sparkplug, nor queued for it');
    assert.deepEqual(turbofanLines(r.stdout), [], 'nothing was optimized by TurboFan');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('V8 tiers: the code cache a boot writes (Sparkplug turned on meanwhile) is taken by the next start', async () => {
  const img = guestImage();
  const initrd = await makeScriptInitrd(img.initrd, 'true');
  const root = privatePmemvm('pmemvm-tiers-cache-');
  const cacheLines = (args: string[]) => {
    const r = spawnSync(process.execPath, [...pmemvmNodeArgs().slice(0, -1), join(root, 'bin', 'pmemvm.cjs'), ...args],
      { input: '', encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20, env: { ...process.env, PMEMVM_DEBUG: '1' } });
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout.slice(-3000)}`);
    return r.stderr.split('\n').filter((l) => l.startsWith('pmemvm: debug: code cache: ')).map((l) => l.slice(27));
  };
  try {
    assert.deepEqual(cacheLines(['--version']).map((l) => l.replace(/\d+/, 'N')), ['none yet', 'written (N bytes)']);
    // The boot takes it, compiles far more, and writes the larger cache when it ends.
    const boot = cacheLines(['-machine', 'pc', '-m', '256M', '-kernel', img.vmlinux, '-initrd', initrd, '-append', DEFAULT_APPEND, '-nographic']);
    assert.match(boot[0] ?? '', /^used/);
    assert.match(boot[1] ?? '', /^written \(\d+ bytes\)$/, 'the boot wrote a larger cache');
    assert.match(cacheLines(['--version'])[0] ?? '', /^used/, 'V8 took the cache the boot wrote: it was made under the start\'s flags');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
