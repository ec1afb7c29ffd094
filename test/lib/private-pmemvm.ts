// A private copy of bin/pmemvm.cjs and dist/bundle/, with no code cache: for tests whose runs
// would replace the shared cache (other flags, other bundles), so that no other test's pmemvm sees it.
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../testhost/paths.js';

/** The copy's root (its bin/pmemvm.cjs runs its own dist/bundle/main.js); remove it when done. */
export function privatePmemvm(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(repoRoot, 'bin', 'pmemvm.cjs'), join(root, 'bin', 'pmemvm.cjs'));
  cpSync(join(repoRoot, 'dist', 'bundle'), join(root, 'dist', 'bundle'), { recursive: true, filter: (f) => !f.endsWith('.v8cache') });
  symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
  return root;
}
