// CLI: node dist/testhost/entry.js <run -- cmd args... | test | demo | bench [name...]>
// Runs the command directly where there is hardware virtualization, else inside the
// test host (QEMU TCG with nested SVM), because /dev/kvm here may be the PVM emulator.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { shq } from './runner.js';
import { repoRoot } from './paths.js';
import { runDirect, runSomewhere } from './somewhere.js';
import { runSuite } from './suite.js';

/** Benchmarks that run on this machine, not in the test host: they kill test hosts. */
const OUTER_BENCHES = ['powerloss.js'];

/** The benchmarks to run: every one, or those named (flush or flush.js); null after an unknown name (said on stderr). */
function benchFiles(names: string[]): string[] | null {
  const dir = join(repoRoot, 'dist', 'bench');
  // table.js is the benches' shared code, not a benchmark.
  const all = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'table.js').sort() : [];
  if (names.length === 0) return all;
  const wanted = names.map((n) => n.replace(/^bench\//, '').replace(/(\.js)?$/, '.js'));
  const unknown = wanted.filter((f) => !all.includes(f));
  if (unknown.length > 0) {
    process.stderr.write(`pmemvm: no benchmark ${unknown.map((f) => f.slice(0, -3)).join(', ')}; there are: ${all.map((f) => f.slice(0, -3)).join(', ')}\n`);
    return null;
  }
  return all.filter((f) => wanted.includes(f));
}

function benchCommand(all: string[]): string[] {
  const files = all.filter((f) => !OUTER_BENCHES.includes(f));
  // One boot for all benchmarks; the status is non-zero if any failed.
  const loop = files.map((f) => `echo ${shq('== bench ' + f)}; ${shq(process.execPath)} ${shq(join('dist', 'bench', f))} || st=1`).join('\n');
  return ['sh', '-c', `st=0\n${loop}\nexit $st`];
}

function usage(): never {
  process.stderr.write('usage: node dist/testhost/entry.js <run -- cmd args... | test | demo | bench [name...]>\n');
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
      return runSuite();
    case 'demo':
      return runSomewhere([process.execPath, 'dist/testhost/demo.js']);
    case 'bench': {
      const files = benchFiles(args.slice(1));
      if (!files) return 1;
      if (files.length === 0) { process.stderr.write('pmemvm: no benchmarks in dist/bench; run npm run build\n'); return 1; }
      const inside = files.some((f) => !OUTER_BENCHES.includes(f)) ? await runSomewhere(benchCommand(files)) : 0;
      let outer = 0;
      for (const f of OUTER_BENCHES.filter((o) => files.includes(o))) {
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
