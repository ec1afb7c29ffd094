// bench/boot: time from process start to the guest's init (PMEMVM-GUEST-READY),
// pmemvm beside QEMU (-accel kvm, same kernel, initrd and memory), median of runs;
// each VMM boots both the bzImage and the uncompressed vmlinux. QEMU boots once more with
// the host's CPU identity, the one pmemvm shows its guests.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { guestImage } from '../test/lib/guest.js';
import { makeScriptInitrd } from '../test/lib/cpio.js';
import { cpuinfoField } from '../test/lib/cpuinfo.js';
import { printTable, median } from './table.js';
import { pmemvmNodeArgs } from '../testhost/paths.js';

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

/**
 * QEMU's -cpu option for its default model (qemu64) under this machine's CPU identity, the
 * identity pmemvm's default model shows. qemu64 says it is a K8 (family 0Fh), and Linux then
 * scans all 256 PCI buses twice for a GART aperture: this row shows how much of the
 * difference is that scan, and how much is the VMM.
 */
function qemu64WithHostIdentity(): string {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const get = (key: string) => cpuinfoField(info, key);
  return `qemu64,vendor=${get('vendor_id')},family=${get('cpu family')},model=${get('model')},stepping=${get('stepping')}`;
}

const img = guestImage();
const initrd = await makeScriptInitrd(img.initrd, 'true');
const common = (vcpus: number) => ['-m', '256M', '-smp', String(vcpus), '-initrd', initrd, '-append', APPEND, '-nographic'];
// Two vCPUs too: pmemvm runs the second in a worker thread, whose start the guest waits for.
const one = common(1), two = common(2);
const qemu = ['-accel', 'kvm', '-machine', 'pc', '-nodefaults', '-no-user-config', '-serial', 'stdio'];
const hostCpu = ['-cpu', qemu64WithHostIdentity()];
const contenders: Array<[string, string, string[]]> = [
  ['pmemvm (bzImage)', process.execPath, [...pmemvmNodeArgs(), '-machine', 'pc', '-kernel', img.bzImage, ...one]],
  ['pmemvm (vmlinux)', process.execPath, [...pmemvmNodeArgs(), '-machine', 'pc', '-kernel', img.vmlinux, ...one]],
  ['QEMU (bzImage)', 'qemu-system-x86_64', [...qemu, '-kernel', img.bzImage, ...one]],
  // QEMU boots the same uncompressed kernel through its PVH entry (ELF note): like against like.
  ['QEMU (vmlinux)', 'qemu-system-x86_64', [...qemu, '-kernel', img.vmlinux, ...one]],
  ['QEMU, host CPU id (bzImage)', 'qemu-system-x86_64', [...qemu, ...hostCpu, '-kernel', img.bzImage, ...one]],
  ['QEMU, host CPU id (vmlinux)', 'qemu-system-x86_64', [...qemu, ...hostCpu, '-kernel', img.vmlinux, ...one]],
  ['pmemvm (vmlinux, 2 vCPUs)', process.execPath, [...pmemvmNodeArgs(), '-machine', 'pc', '-kernel', img.vmlinux, ...two]],
  ['QEMU, host CPU id (vmlinux, 2 vCPUs)', 'qemu-system-x86_64', [...qemu, ...hostCpu, '-kernel', img.vmlinux, ...two]],
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
// Each row is compared with QEMU booting the same kernel file, with its default CPU (the
// command line of the issue) and with the host's CPU identity: the ratio of medians, and,
// because this machine's speed drifts from minute to minute, the median of the ratios of
// boots made in the same round.
// Rows are compared within their kind: the kernel file and the vCPUs, what the parentheses say.
const kind = (name: string) => /\(([^)]*)\)$/.exec(name)![1]!;
const ratios = (mine: number[], theirs: number[] | undefined) => !theirs ? '' :
  `${(median(mine) / median(theirs)).toFixed(2)}x / ${median(mine.map((x, i) => x / theirs[i])).toFixed(2)}x`;
console.log(`\nQEMU, host CPU id: -cpu ${hostCpu[1]}`);
// Every boot, in the order of the rounds: the test host's slow phases show in a row, not just in its median.
for (const [name] of contenders) console.log(`${name}: ${results[name].map((x) => x.toFixed(0)).join(' ')}`);
printTable(`boot to init, ms (median of ${RUNS}; 256M, 1 vCPU unless said); ratios: of medians / median of per-round ratios`,
  ['VMM', 'median ms', 'min ms', 'vs QEMU, same kernel', 'vs QEMU host CPU id, same kernel'],
  contenders.map(([name]) => {
    const mine = results[name];
    return [name, median(mine).toFixed(0), Math.min(...mine).toFixed(0),
      ratios(mine, results[`QEMU (${kind(name)})`]), ratios(mine, results[`QEMU, host CPU id (${kind(name)})`])];
  }));
