// npm test: the whole suite, on both cores. One core runs a test host that takes the
// suite's batches longest first; the other runs the power-loss sample (which kills test
// hosts, so it runs on this machine) and then a second test host that takes what is left
// of the same queue. Each batch's TAP output is printed whole at the end, in plan order,
// then the totals.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { runSomewhere } from './somewhere.js';
import { planSuite, testFiles } from './suite-plan.js';

/**
 * testhost/powerloss.test.js on this machine, its output held back until the end.
 * Inside a test host there is no host to kill: it says so and passes.
 */
function powerlossSample(): Promise<{ status: number; output: string }> {
  if (process.env.PMEMVM_IN_TESTHOST === '1' || process.env.PMEMVM_POWERLOSS_TRIALS === '0') {
    return Promise.resolve({ status: 0, output: '# power-loss sample not run: it needs the outer machine (and PMEMVM_POWERLOSS_TRIALS > 0)\n' });
  }
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--test', '--test-timeout=1800000', join('dist', 'testhost', 'powerloss.test.js')],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '# power-loss sample (testhost/powerloss.test.ts, on this machine)\n';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { output += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { output += s; });
    child.on('error', (e) => res({ status: 1, output: `${output}cannot start: ${e.message}\n` }));
    child.on('close', (code) => res({ status: code ?? 1, output }));
  });
}

const COUNTS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'] as const;
type Counts = Record<(typeof COUNTS)[number], number>;

/** node --test's closing totals ("# pass 7"); the last of each wins. */
export function tapCounts(tap: string): Counts {
  const c = Object.fromEntries(COUNTS.map((k) => [k, 0])) as Counts;
  for (const k of COUNTS) {
    const all = [...tap.matchAll(new RegExp(`^# ${k} (\\d+)$`, 'gm'))];
    if (all.length) c[k] = Number(all[all.length - 1]![1]);
  }
  return c;
}

export async function runSuite(): Promise<number> {
  const t0 = Date.now();
  const secs = () => Math.round((Date.now() - t0) / 1000);
  // In the repo: the one folder every test host mounts read-write at the same path.
  const runDir = join(repoRoot, '.suite-run');
  const [queue, taken, results] = ['queue', 'taken', 'results'].map((d) => join(runDir, d)) as [string, string, string];
  rmSync(runDir, { recursive: true, force: true });
  for (const d of [queue, taken, results]) mkdirSync(d, { recursive: true });
  const batches = planSuite(testFiles(repoRoot, join(repoRoot, 'dist', 'test')));
  for (const b of batches) writeFileSync(join(queue, b.name), JSON.stringify(b.files));
  process.stdout.write(`suite: ${batches.length} batches (${batches.map((b) => b.name).join(', ')})\n`);

  const worker = (id: string) => runSomewhere([process.execPath, join('dist', 'testhost', 'suite-worker.js'), runDir, id]);
  const first = worker('A');
  const second = powerlossSample().then(async (power) => {
    process.stdout.write(`suite: power-loss sample ${power.status === 0 ? 'ok' : 'FAILED'} after ${secs()} s\n`);
    const left = readdirSync(queue).length;
    const status = left ? await worker('B') : 0;
    return { power, status };
  });
  const [statusA, { power, status: statusB }] = await Promise.all([first, second]);

  const total = Object.fromEntries(COUNTS.map((k) => [k, 0])) as Counts;
  const failed: string[] = [];
  for (const b of batches) {
    const tapFile = join(results, `${b.name}.tap`), statusFile = join(results, `${b.name}.status`);
    process.stdout.write(`# ==== batch ${b.name}: ${b.files.join(' ')}\n`);
    if (!existsSync(statusFile)) {
      failed.push(`${b.name} (not run to its end)`);
      if (existsSync(tapFile)) process.stdout.write(readFileSync(tapFile, 'utf8'));
      continue;
    }
    const tap = readFileSync(tapFile, 'utf8');
    process.stdout.write(tap);
    const c = tapCounts(tap);
    for (const k of COUNTS) total[k] += c[k];
    if (readFileSync(statusFile, 'utf8').trim() !== '0') failed.push(b.name);
  }
  process.stdout.write(power.output);
  const pc = tapCounts(power.output);
  if (power.status !== 0) failed.push('power-loss sample');
  process.stdout.write(`# ==== suite: ${COUNTS.map((k) => `${k} ${total[k]}`).join(', ')}; power-loss sample: ${pc.pass} of ${pc.tests} passed; ${secs()} s\n`);
  if (statusA !== 0 || statusB !== 0) process.stdout.write(`# test host exit statuses: A ${statusA}, B ${statusB}\n`);
  if (failed.length) process.stdout.write(`# FAILED: ${failed.join(', ')}\n`);
  return failed.length || statusA !== 0 || statusB !== 0 ? 1 : 0;
}
