// Persistent memory of the machine the guest tests run on. In the test host (two NVDIMMs of
// its own, see testhost/README.md) it is set up as QEMU's docs/nvdimm.txt "Backend File Setup
// Example" does: namespace0.0 as device DAX (/dev/dax0.0), namespace1.0 as fsdax with ext4
// mounted -o dax. Elsewhere the user names them: PMEMVM_TEST_DEVDAX, PMEMVM_TEST_DAX_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface HostPmem {
  /** A device DAX character device, e.g. /dev/dax0.0. */
  devdax: string;
  /** A directory on a file system mounted with -o dax. */
  daxDir: string;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

interface Ns { dev: string; mode: string; blockdev?: string; chardev?: string }
function namespace(name: string): Ns | null {
  const out = sh('ndctl', ['list', '-N', '-n', name]).trim();
  if (!out) return null;
  const list = JSON.parse(out) as Ns | Ns[];
  return Array.isArray(list) ? list[0] ?? null : list;
}

/** The host's DAX media, set up if this is the test host; a reason string when there is none. */
export function hostPmem(): HostPmem | string {
  const devdax = process.env.PMEMVM_TEST_DEVDAX, daxDir = process.env.PMEMVM_TEST_DAX_DIR;
  if (devdax && daxDir) return { devdax, daxDir };
  if (process.env.PMEMVM_IN_TESTHOST !== '1') {
    return 'no DAX media named: set PMEMVM_TEST_DEVDAX=/dev/daxX.Y and PMEMVM_TEST_DAX_DIR=<dir on a -o dax mount> (the test host sets up its own)';
  }
  // The docs' lines, verbatim; idempotent: several test files share one test host.
  if (namespace('namespace0.0')?.mode !== 'devdax') sh('ndctl', ['create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax']);
  let fs = namespace('namespace1.0');
  if (fs?.mode !== 'fsdax') {
    sh('ndctl', ['create-namespace', '-f', '-e', 'namespace1.0', '-m', 'fsdax']);
    fs = namespace('namespace1.0');
  }
  const dev = namespace('namespace0.0')?.chardev;
  if (!dev || !fs?.blockdev) throw new Error(`the test host's namespaces are not as set up: ${JSON.stringify([dev, fs])}`);
  const block = `/dev/${fs.blockdev}`;
  const mounted = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .find((f) => f[0] === block && /(^|,)dax/.test(f[3] ?? ''));
  let dir = mounted?.[1];
  if (!dir) {
    sh('mkfs.ext4', ['-q', '-F', block]);
    dir = mkdtempSync(join(tmpdir(), 'pmemvm-daxfs-'));
    sh('mount', ['-o', 'dax', block, dir]);
  }
  const chardev = `/dev/${dev}`;
  if (!existsSync(chardev)) throw new Error(`${chardev} is missing after ndctl create-namespace`);
  return { devdax: chardev, daxDir: dir };
}
