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

function benchCommand(): string[] {
  const dir = join(repoRoot, 'dist', 'bench');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js')).sort() : [];
  if (files.length === 0) return ['sh', '-c', 'echo "pmemvm: no benchmarks in dist/bench"'];
  // One boot for all benchmarks; the status is non-zero if any failed.
  const loop = files.map((f) => `echo ${shq('== bench ' + f)}; ${shq(process.execPath)} ${shq(join('dist', 'bench', f))} || st=1`).join('\n');
  return ['sh', '-c', `st=0\n${loop}\nexit $st`];
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
    case 'test':
      // A hung test fails after 10 min instead of holding the whole run.
      return runSomewhere([process.execPath, '--test', '--test-concurrency=1', '--test-timeout=600000', 'dist/test/']);
    case 'demo':
      return runSomewhere([process.execPath, 'dist/testhost/demo.js']);
    case 'bench':
      return runSomewhere(benchCommand());
    default:
      usage();
  }
}

process.exitCode = await main(process.argv.slice(2));
