// Run ACPICA's iasl (acpica-tools, installed by the project's setup) for byte-exact AML tests.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** iasl with `args` in `dir`; fails the test with iasl's output unless it exits 0. Returns that output. */
export function iasl(dir: string, args: string[]): string {
  const r = spawnSync('iasl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`iasl is required for these tests: ${r.error.message}`);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  return out;
}
