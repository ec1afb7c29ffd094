// A small power-loss sample for the suite (bench/powerloss runs the full campaign). It runs on
// the outer machine, beside the in-test-host suite: each trial kills a whole test host.
// Every configuration must get the verdict it is known for, and the records must agree with
// the verdict: crash-safe loses no acknowledged record; the negative control loses some,
// which proves the harness can see a loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIGS, runTrial } from './powerloss.js';
import { expectsLoss, type ConfigName, type PowerlossConfig } from './powerloss-configs.js';

const TRIALS = Number(process.env.PMEMVM_POWERLOSS_TRIALS ?? 2);

for (const config of Object.keys(CONFIGS) as ConfigName[]) {
  const want: PowerlossConfig = CONFIGS[config];
  const loss = expectsLoss(want);
  test(`power loss, ${config} (${want.about}): ${TRIALS} crashes at random moments; ${loss ? 'acknowledged writes lost' : 'no acknowledged write lost'}`, async (t) => {
    for (let i = 0; i < TRIALS; i++) {
      const r = await runTrial(config, { log: (s) => t.diagnostic(s) });
      const what = `trial ${i + 1}, seed ${r.seed}: ${r.acked} acknowledged, lost ${JSON.stringify(r.lost)}`;
      assert.equal(r.crashSafe, want.crashSafe, `pmemvm's verdict changed: ${r.verdictLine}`);
      assert.ok(r.acked >= 1, what);
      if (!loss) assert.deepEqual(r.lost, [], what);
      else assert.ok(r.lost.length > 0, `the negative control lost nothing: the harness cannot see a loss (${what})`);
      if (want.failDiskAtAck !== undefined) {
        // What was acknowledged while the disk worked is there; the failure was said, not hidden.
        assert.deepEqual(r.lost.filter((n) => n <= r.failedAfterAck!), [], what);
        assert.ok(r.syncErrorLogged, `pmemvm did not log the failed fdatasync (${what})`);
      }
    }
  });
}
