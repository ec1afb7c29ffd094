// CLI: node dist/testhost/entry.js <run -- cmd args... | test | demo | bench>
// Runs the command directly where there is hardware virtualization, else inside the
// test host (QEMU TCG with nested SVM), because /dev/kvm here may be the PVM emulator.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { runInTestHost, shq } from './runner.js';
import { repoRoot } from './paths.js';
import { hardwareVirtProblem } from '../src/kvm/system.js';

/** True when KVM here is real hardware virtualization (not the kvm_pvm emulator). */
export function hasHardwareVirt(): boolean {
  return existsSync('/dev/kvm') && hardwareVirtProblem() === null;
}

function runDirect(argv: string[], cwd: string): Promise<number> {
  return new Promise((res) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', cwd });
    const fwd = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', fwd);
    process.on('SIGTERM', fwd);
    child.on('error', (e) => { process.stderr.write(`pmemvm: ${argv[0]}: ${e.message}\n`); res(127); });
    child.on('close', (code, sig) => res(code ?? 128 + (sig ? constants.signals[sig] : 0)));
  });
}

/** Run argv here if KVM is real (or we are already inside the test host), else in the test host. */
export async function runSomewhere(argv: string[], cwd: string = repoRoot): Promise<number> {
  if (process.env.PMEMVM_IN_TESTHOST === '1' || hasHardwareVirt()) return runDirect(argv, cwd);
  process.stderr.write('pmemvm: no hardware virtualization here (/dev/kvm is PVM); running inside the test host (QEMU TCG with nested SVM)\n');
  return runInTestHost(argv, { cwd });
}

/** Benchmarks that run on this machine, not in the test host: they kill test hosts. */
const OUTER_BENCHES = ['powerloss.js'];

function benchCommand(): string[] {
  const dir = join(repoRoot, 'dist', 'bench');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js') && !OUTER_BENCHES.includes(f)).sort() : [];
  if (files.length === 0) return ['sh', '-c', 'echo "pmemvm: no benchmarks in dist/bench"'];
  // One boot for all benchmarks; the status is non-zero if any failed.
  const loop = files.map((f) => `echo ${shq('== bench ' + f)}; ${shq(process.execPath)} ${shq(join('dist', 'bench', f))} || st=1`).join('\n');
  return ['sh', '-c', `st=0\n${loop}\nexit $st`];
}

/**
 * testhost/powerloss.test.js on this machine, its output held back until the suite's is done.
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

function usage(): never {
  process.stderr.write('usage: node dist/testhost/entry.js <run -- cmd args... | test | demo | bench>\n');
  process.exit(2);
}

async function main(args: string[]): Promise<number> {
  const mode = args[0];
  switch (mode) {
    case 'run': {
      const rest = args[1] === '--' ? args.slice(2) : args.slice(1);
      if (rest.length === 0) usage();
      return runSomewhere(rest, process.cwd());
    }
    case 'test': {
      // A hung test fails after 10 min instead of holding the whole run. The power-loss
      // sample kills test hosts, so it runs here, beside the suite's test host (one core each).
      const power = powerlossSample();
      const suite = await runSomewhere([process.execPath, '--test', '--test-concurrency=1', '--test-timeout=600000', 'dist/test/']);
      const p = await power;
      process.stdout.write(p.output);
      return suite !== 0 ? suite : p.status;
    }
    case 'demo':
      return runSomewhere([process.execPath, 'dist/testhost/demo.js']);
    case 'bench': {
      const inside = await runSomewhere(benchCommand());
      let outer = 0;
      for (const f of OUTER_BENCHES) {
        process.stdout.write(`== bench ${f} (on this machine)\n`);
        outer ||= await runDirect([process.execPath, join('dist', 'bench', f)], repoRoot);
      }
      return inside || outer;
    }
    default:
      usage();
  }
}

process.exitCode = await main(process.argv.slice(2));
