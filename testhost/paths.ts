// Where things live: the repo (found from this compiled file's location) and the image cache.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repo root: this file compiles to <repo>/dist/testhost/paths.js. */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Image cache shared by guest/build.sh and testhost/build.sh (same default as theirs). */
export function cacheDir(): string {
  return resolve(process.env.PMEMVM_CACHE || join(homedir(), '.cache', 'pmemvm'));
}

/** The pmemvm program, bin/pmemvm.cjs. */
const pmemvmBin: string = join(repoRoot, 'bin', 'pmemvm.cjs');

/**
 * The arguments to give Node (process.execPath) to start pmemvm as its users do, by running
 * bin/pmemvm.cjs as a program: the Node flags of its first line (`#!/usr/bin/env -S node
 * FLAGS`), then the script. Tests and benches then measure what users run, with the Node
 * that runs them.
 */
export function pmemvmNodeArgs(): string[] {
  const first = readFileSync(pmemvmBin, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(first);
  if (!m) throw new Error(`${pmemvmBin}: first line is not #!/usr/bin/env -S node [--flags]: ${first}`);
  return [...m[1]!.split(' ').filter(Boolean), pmemvmBin];
}
