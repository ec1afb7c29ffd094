// One test host's share of the suite: takes batches from the queue that
// testhost/suite.ts made until none is left, runs each with node --test, and leaves its
// TAP output and exit status in the results folder. Two workers (two test hosts) may take
// from one queue: a batch is taken by renaming it, which only one of them can do.
// usage: node dist/testhost/suite-worker.js <run dir> <worker id>
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

const [runDir, id] = process.argv.slice(2);
if (!runDir || !id) {
  process.stderr.write('usage: node dist/testhost/suite-worker.js <run dir> <worker id>\n');
  process.exit(2);
}
const queue = join(runDir, 'queue'), taken = join(runDir, 'taken'), results = join(runDir, 'results');
const mine = (name: string) => name.startsWith(`${id}--`);

// A test host that froze is started again with the same command: give back what it had taken.
for (const name of readdirSync(taken).filter(mine)) renameSync(join(taken, name), join(queue, name.slice(id.length + 2)));

function take(): string | null {
  for (const name of readdirSync(queue).sort()) {
    try {
      renameSync(join(queue, name), join(taken, `${id}--${name}`));
      return name;
    } catch { /* the other worker took it */ }
  }
  return null;
}

function runBatch(files: string[], tap: string): Promise<number> {
  const fd = openSync(tap, 'w');
  return new Promise((res) => {
    // A hung test fails after 10 min instead of holding the whole run.
    const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=600000', ...files],
      { cwd: repoRoot, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => { writeFileSync(tap, `not ok 1 - cannot start node --test: ${e.message}\n`); res(1); });
    child.on('close', (code) => { closeSync(fd); res(code ?? 1); });
  });
}

for (let name = take(); name !== null; name = take()) {
  const files = JSON.parse(readFileSync(join(taken, `${id}--${name}`), 'utf8')) as string[];
  const t0 = Date.now();
  const status = await runBatch(files, join(results, `${name}.tap`));
  writeFileSync(join(results, `${name}.status`), `${status}\n`);
  rmSync(join(taken, `${id}--${name}`));
  process.stdout.write(`suite: ${name} ${status === 0 ? 'ok' : `FAILED (exit ${status})`} in ${Math.round((Date.now() - t0) / 1000)} s (test host ${id})\n`);
}
