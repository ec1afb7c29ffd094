// Where things live: the repo (found from this compiled file's location) and the image cache.
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repo root: this file compiles to <repo>/dist/testhost/paths.js. */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Image cache shared by guest/build.sh and testhost/build.sh (same default as theirs). */
export function cacheDir(): string {
  return resolve(process.env.PMEMVM_CACHE || join(homedir(), '.cache', 'pmemvm'));
}
