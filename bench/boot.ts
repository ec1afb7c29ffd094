// bench/boot: time from process start to the guest's init (PMEMVM-GUEST-READY),
// pmemvm beside QEMU (-accel kvm, same kernel, initrd and memory), median of runs;
// each VMM boots both the bzImage and the uncompressed vmlinux.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { guestImage } from '../test/lib/guest.js';
import { makeScriptInitrd } from '../test/lib/cpio.js';
import { printTable, median, repoRoot } from './table.js';

const RUNS = Number(process.env.PMEMVM_BENCH_RUNS ?? 5);
const APPEND = 'console=ttyS0 quiet panic=-1';

function timeToReady(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '', ready = 0;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd}: no PMEMVM-GUEST-READY within 120 s:\n${out}`)); }, 120_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (!ready && out.includes('PMEMVM-GUEST-READY')) ready = Number(process.hrtime.bigint() - t0) / 1e6;
    });
    child.on('close', () => {
      clearTimeout(timer);
      if (ready) resolve(ready); else reject(new Error(`${cmd} exited before the guest was ready:\n${out}`));
    });
    child.stdin.end();
  });
}

const img = guestImage();
const initrd = await makeScriptInitrd(img.initrd, 'true');
const common = ['-m', '256M', '-smp', '1', '-initrd', initrd, '-append', APPEND, '-nographic'];
const contenders: Array<[string, string, string[]]> = [
  ['pmemvm (bzImage)', process.execPath, [join(repoRoot, 'bin/pmemvm.mjs'), '-machine', 'pc', '-kernel', img.bzImage, ...common]],
  ['pmemvm (vmlinux)', process.execPath, [join(repoRoot, 'bin/pmemvm.mjs'), '-machine', 'pc', '-kernel', img.vmlinux, ...common]],
  ['QEMU (bzImage)', 'qemu-system-x86_64', ['-accel', 'kvm', '-machine', 'pc', '-nodefaults', '-no-user-config', '-serial', 'stdio', '-kernel', img.bzImage, ...common]],
  // QEMU boots the same uncompressed kernel through its PVH entry (ELF note): like against like.
  ['QEMU (vmlinux)', 'qemu-system-x86_64', ['-accel', 'kvm', '-machine', 'pc', '-nodefaults', '-no-user-config', '-serial', 'stdio', '-kernel', img.vmlinux, ...common]],
];
const results: Record<string, number[]> = {};
// Each round starts with the next contender in turn: a boot runs faster on host memory an
// earlier boot has already touched, and a fixed order would favour whoever comes later.
for (let i = 0; i < RUNS; i++) {
  for (let k = 0; k < contenders.length; k++) {
    const [name, cmd, args] = contenders[(i + k) % contenders.length];
    (results[name] ??= []).push(await timeToReady(cmd, args));
  }
}
// Each pmemvm row is compared with QEMU booting the same kernel file: the ratio of medians, and,
// because this machine's speed drifts from minute to minute, the median of the ratios of
// boots made back to back in the same round.
const qemuName = (name: string) => (name.includes('vmlinux') ? 'QEMU (vmlinux)' : 'QEMU (bzImage)');
printTable(`boot to init, ms (median of ${RUNS}; 256M, 1 vCPU)`,
  ['VMM', 'median ms', 'min ms', 'vs QEMU, same kernel', 'per-round ratio, median'],
  contenders.map(([name]) => {
    const mine = results[name], theirs = results[qemuName(name)];
    const m = median(mine);
    return [name, m.toFixed(0), Math.min(...mine).toFixed(0), `${(m / median(theirs)).toFixed(2)}x`,
      `${median(mine.map((x, i) => x / theirs[i])).toFixed(2)}x`];
  }));
