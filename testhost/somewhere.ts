// Where a command runs: here when this machine has hardware virtualization (or we are
// already inside the test host), else inside the test host (QEMU TCG with nested SVM),
// because /dev/kvm here may be the PVM emulator.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { runInTestHost } from './runner.js';
import { repoRoot } from './paths.js';
import { hardwareVirtProblem } from '../src/kvm/system.js';

/** True when KVM here is real hardware virtualization (not the kvm_pvm emulator). */
export function hasHardwareVirt(): boolean {
  return existsSync('/dev/kvm') && hardwareVirtProblem() === null;
}

export function runDirect(argv: string[], cwd: string): Promise<number> {
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

