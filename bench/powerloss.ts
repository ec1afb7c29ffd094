// bench/powerloss: the power-loss campaign. For each configuration, PMEMVM_BENCH_POWERLOSS_TRIALS
// (default 20; PMEMVM_BENCH_POWERLOSS_CONTROL_TRIALS, default 5, for the negative controls) trials of testhost/powerloss.ts: pmemvm in a test host with its backend on the
// test host's disk, a guest acknowledging records after each flush, the whole test host killed
// at a random moment, the disk checked. Runs on the outer machine (`npm run bench` starts it
// there after the in-test-host benchmarks): it kills test hosts.
import { runTrial, CONFIGS, TrialError, type TrialResult } from '../testhost/powerloss.js';
import { expectsLoss, type ConfigName, type PowerlossConfig } from '../testhost/powerloss-configs.js';
import { median, percentile, printTable } from './table.js';

const TRIALS = Number(process.env.PMEMVM_BENCH_POWERLOSS_TRIALS ?? 20);
/**
 * Trials of a configuration that must lose writes (a negative control): each such trial has
 * lost every acknowledged write so far, so a few show that the harness sees a loss.
 */
const CONTROL_TRIALS = Number(process.env.PMEMVM_BENCH_POWERLOSS_CONTROL_TRIALS ?? 5);

if (process.env.PMEMVM_IN_TESTHOST === '1') {
  console.log('bench/powerloss: runs on the outer machine (it kills whole test hosts): node dist/bench/powerloss.js');
  process.exit(0);
}

const rows: string[][] = [];
let wrong = false;
// PMEMVM_BENCH_POWERLOSS_CONFIGS=a,b: only these configurations.
const only = process.env.PMEMVM_BENCH_POWERLOSS_CONFIGS?.split(',');
for (const config of (Object.keys(CONFIGS) as ConfigName[]).filter((c) => !only || only.includes(c))) {
  const want: PowerlossConfig = CONFIGS[config];
  const results: TrialResult[] = [];
  let failed = 0;
  // A failing disk is no mere control: what was acknowledged before the failure must be there.
  const trials = expectsLoss(want) && want.failDiskAtAck === undefined ? CONTROL_TRIALS : TRIALS;
  for (let i = 0; i < trials; i++) {
    try {
      results.push(await runTrial(config, { log: (s) => console.log(`  ${s}`) }));
    } catch (e) {
      if (!(e instanceof TrialError)) throw e;
      failed++;
      console.log(`  ${config}: trial ${i + 1} failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const acked = results.reduce((a, r) => a + r.acked, 0);
  const lost = results.reduce((a, r) => a + r.lost.length, 0);
  const trialsWithLoss = results.filter((r) => r.lost.length > 0).length;
  const gaps = results.flatMap((r) => r.ackGapsMs);
  const verdict = (results[0] ? (results[0].crashSafe ? 'crash-safe' : 'not crash-safe') : '?') +
    (want.labels ? ` (labels: ${expectsLoss(want) ? 'not durable' : 'durable'})` : '') +
    (want.failDiskAtAck !== undefined ? ', then not (sync failed)' : '');
  // A failing disk: nothing acknowledged before the failure lost, and pmemvm said it failed.
  const failureHonest = results.every((r) => r.failedAfterAck === undefined ||
    (r.syncErrorLogged === true && r.lost.every((n) => n > r.failedAfterAck!)));
  // The claim holds when a durable configuration loses nothing and a volatile one loses something.
  const agrees = results.length > 0 && results.every((r) => r.crashSafe === want.crashSafe) && failureHonest &&
    (expectsLoss(want) ? trialsWithLoss > 0 : lost === 0);
  if (!agrees || failed) wrong = true;
  rows.push([config, verdict, `${results.length}${failed ? ` (+${failed} failed)` : ''}`, String(acked), String(lost), String(trialsWithLoss),
    gaps.length ? `${median(gaps)} / ${percentile(gaps, 99)}` : '-', agrees ? 'yes' : 'NO']);
}
printTable(`power loss: test host killed at a random moment, ${TRIALS} trials per crash-safe configuration, ${CONTROL_TRIALS} per negative control`,
  ['configuration', "pmemvm's verdict", 'trials', 'acknowledged writes', 'lost', 'trials with loss', 'ack gap ms p50 / p99', 'claim holds'], rows);
if (wrong) process.exitCode = 1;
