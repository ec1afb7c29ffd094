// bench/flush: latency of a 4 KiB write + fsync on a virtio-pmem /dev/pmem0 inside the
// guest (p50, p99 over 500 flushes, in alternating rounds), pmemvm beside QEMU in the same run, and the floor:
// the same write + fsync on the same kind of file straight from the (test) host. Plus the
// guest's own share: the same loop on an NVDIMM, where a guest fsync never reaches the host
// (what no VMM can take away), pmemvm's NVDIMM with flush-hint=on (each guest fsync an
// fdatasync of the backend through the NFIT flush hint), and the guest's sequential bandwidth on the device. The backend sits on real storage (under the
// repo: 9p to this machine's disk inside the test host), not tmpfs, so fsync costs something.
// The virtio-pmem guests then measure the loop once more, warm (see WARMUP). pmemvm's
// virtio-pmem runs twice per round: as it is (flushes answered by the kernel where it can,
// session 22, the default since session 23) and with PMEMVM_FLUSH_ANSWERS=user (answered by
// pmemvm), so that each run measures the one against the other within its own rounds.
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { sparseFile } from '../test/lib/files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGuest } from '../test/lib/guest.js';
import { median, percentile, printTable, repoRoot } from './table.js';

const FLUSHES = Number(process.env.PMEMVM_BENCH_FLUSHES ?? 500);
/** Rounds of the three flush paths that matter (pmemvm and QEMU virtio-pmem, pmemvm flush-hint), order rotated each round. */
const ROUNDS = Number(process.env.PMEMVM_BENCH_FLUSH_ROUNDS ?? 5);
const MiB = 1 << 20;
const BW_MIB = 128;
/**
 * Flushes made after the first measured ones, before the same loop is measured again in the
 * same guest: the warm rows. A JIT VMM compiles its flush path while the first flushes run
 * (on pmemvm, V8 at nice 19 takes seconds of the test host's one CPU for it); the warm rows
 * show both VMMs once that is over.
 */
const WARMUP = Number(process.env.PMEMVM_BENCH_FLUSH_WARMUP ?? 2000);

function buildHelper(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-flushlat-'));
  const out = join(dir, 'flushlat');
  const r = spawnSync('gcc', ['-O2', '-static', '-o', out, join(repoRoot, 'bench', 'guest', 'flushlat.c')], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`bench/flush needs gcc with static glibc (apt install gcc libc6-dev): ${r.error?.message ?? r.stderr}`);
  return out;
}

const FLUSH_SCRIPT = `/flushlat /dev/pmem0 ${FLUSHES}`;
const SCRIPT = `
now() { awk '/^now at/ {print $3; exit}' /proc/timer_list; }
${FLUSH_SCRIPT}
a=$(now); dd if=/dev/zero of=/dev/pmem0 bs=1M count=${BW_MIB} oflag=direct 2>/dev/null
b=$(now); dd if=/dev/pmem0 of=/dev/null bs=1M count=${BW_MIB} iflag=direct 2>/dev/null
c=$(now); echo "BW write_ns=$((b - a)) read_ns=$((c - b))"
/flushlat /dev/pmem0 ${WARMUP} >/dev/null
echo WARM; ${FLUSH_SCRIPT}
`;

interface Latency { p50: number; p99: number; mean: number }
interface Result extends Latency { writeMiBs?: number; readMiBs?: number; warm?: Latency }

async function guestRun(vmm: 'pmemvm' | 'qemu', dir: string, helper: string, device: 'virtio-pmem' | 'nvdimm' | 'nvdimm-hint' = 'virtio-pmem', env?: Record<string, string>): Promise<Result> {
  const file = sparseFile(join(dir, `${vmm}-${device}.img`), 256 * MiB);
  const backend = ['-object', `memory-backend-file,id=mem1,share=on,mem-path=${file},size=256M`];
  const args = device === 'virtio-pmem'
    ? ['-m', '256M,maxmem=1G', ...backend, '-device', 'virtio-pmem-pci,memdev=mem1,id=nv1']
    : ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G', ...backend, '-device', `nvdimm,memdev=mem1,id=nv1${device === 'nvdimm-hint' ? ',flush-hint=on' : ''}`];
  const r = await runGuest({
    vmm,
    args,
    script: device === 'virtio-pmem' ? SCRIPT : FLUSH_SCRIPT,
    extraFiles: [{ name: 'flushlat', data: new Uint8Array(readFileSync(helper)), mode: 0o755 }],
    timeoutMs: 900_000,
    env,
  });
  const lats = [...r.output.matchAll(/FLUSHLAT n=\d+ p50=(\d+) p99=(\d+) min=\d+ max=\d+ mean=(\d+)/g)]
    .map((m) => ({ p50: Number(m[1]) / 1e3, p99: Number(m[2]) / 1e3, mean: Number(m[3]) / 1e3 }));
  const bw = /BW write_ns=(\d+) read_ns=(\d+)/.exec(r.output);
  const warm = /^WARM\r?$/m.test(r.output) ? lats[1] : undefined;
  if (!lats[0] || (device === 'virtio-pmem' && (!bw || !warm)) || r.guestExit !== 0) throw new Error(`${vmm}: the guest did not finish the benchmark:\n${r.output.slice(-4000)}`);
  rmSync(file, { force: true });
  return bw ? { ...lats[0], writeMiBs: BW_MIB / (Number(bw[1]) / 1e9), readMiBs: BW_MIB / (Number(bw[2]) / 1e9), warm } : lats[0];
}

function floor(dir: string): Result {
  const fd = openSync(sparseFile(join(dir, 'floor.img'), 256 * MiB), 'r+');
  const buf = Buffer.alloc(4096);
  const lat: number[] = [];
  for (let i = 0; i < FLUSHES; i++) {
    buf.fill(i & 0xff);
    const t0 = process.hrtime.bigint();
    writeSync(fd, buf, 0, 4096, (i % 256) * 4096);
    fsyncSync(fd);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  closeSync(fd);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), mean: lat.reduce((a, b) => a + b, 0) / lat.length };
}

const work = join(repoRoot, '.bench-tmp');
mkdirSync(work, { recursive: true });
const dir = mkdtempSync(join(work, 'flush-'));
try {
  const helper = buildHelper();
  const base = floor(dir);
  // The same guest, alternated: the test host's disk (9p to this machine) drifts between minutes,
  // so only ratios within one round are compared, and their median is the result.
  type Path = 'pmemvm' | 'qemu' | 'hint' | 'user';
  const order: Path[] = ['pmemvm', 'qemu', 'hint', 'user'];
  const runs: Record<Path, Result[]> = { pmemvm: [], qemu: [], hint: [], user: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < order.length; k++) {
      const path = order[(round + k) % order.length]!;
      runs[path].push(await guestRun(path === 'qemu' ? 'qemu' : 'pmemvm', dir, helper, path === 'hint' ? 'nvdimm-hint' : 'virtio-pmem',
        path === 'user' ? { PMEMVM_FLUSH_ANSWERS: 'user' } : undefined));
    }
  }
  const pmemvmGuest = await guestRun('pmemvm', dir, helper, 'nvdimm');
  const qemuGuest = await guestRun('qemu', dir, helper, 'nvdimm');
  const us = (x: number) => x.toFixed(0);
  const x2 = (x: number) => `${x.toFixed(2)}x`;
  const med = (path: Path, key: 'p50' | 'p99' | 'mean') => median(runs[path].map((r) => r[key]));
  /** Median over rounds of this path's value divided by another path's value in the same round. */
  const ratio = (a: Path, b: Path, key: 'p50' | 'p99') => median(runs[a].map((r, i) => r[key] / runs[b][i]![key]));
  const perRound = (a: Path, b: Path, key: 'p50' | 'p99') => runs[a].map((r, i) => (r[key] / runs[b][i]![key]).toFixed(2)).join(' ');
  printTable(`4 KiB write + fsync on /dev/pmem0, µs: median of ${ROUNDS} alternating rounds of ${FLUSHES} flushes (backend on ${process.env.PMEMVM_IN_TESTHOST ? "9p to this machine's disk" : 'local disk'}); ratios are medians of per-round ratios`,
    ['who', 'p50', 'p99', 'mean', 'p50 vs QEMU', 'p99 vs QEMU', 'p50 vs pmemvm virtio-pmem', 'p50 vs floor'],
    [
      ['pmemvm virtio-pmem', us(med('pmemvm', 'p50')), us(med('pmemvm', 'p99')), us(med('pmemvm', 'mean')), x2(ratio('pmemvm', 'qemu', 'p50')), x2(ratio('pmemvm', 'qemu', 'p99')), '1.00x', x2(med('pmemvm', 'p50') / base.p50)],
      ['QEMU virtio-pmem', us(med('qemu', 'p50')), us(med('qemu', 'p99')), us(med('qemu', 'mean')), '1.00x', '1.00x', x2(ratio('qemu', 'pmemvm', 'p50')), x2(med('qemu', 'p50') / base.p50)],
      ['pmemvm virtio-pmem, answered by pmemvm', us(med('user', 'p50')), us(med('user', 'p99')), us(med('user', 'mean')), x2(ratio('user', 'qemu', 'p50')), x2(ratio('user', 'qemu', 'p99')), x2(ratio('user', 'pmemvm', 'p50')), x2(med('user', 'p50') / base.p50)],
      ['pmemvm NVDIMM flush-hint=on', us(med('hint', 'p50')), us(med('hint', 'p99')), us(med('hint', 'mean')), x2(ratio('hint', 'qemu', 'p50')), x2(ratio('hint', 'qemu', 'p99')), x2(ratio('hint', 'pmemvm', 'p50')), x2(med('hint', 'p50') / base.p50)],
      ['floor (host write + fsync)', us(base.p50), us(base.p99), us(base.mean), '', '', '', '1.00x'],
      ['guest alone, pmemvm NVDIMM', us(pmemvmGuest.p50), us(pmemvmGuest.p99), us(pmemvmGuest.mean), '', '', '', x2(pmemvmGuest.p50 / base.p50)],
      ['guest alone, QEMU NVDIMM', us(qemuGuest.p50), us(qemuGuest.p99), us(qemuGuest.mean), '', '', '', x2(qemuGuest.p50 / base.p50)],
    ]);
  console.log(`per-round ratios: virtio-pmem p50 pmemvm/QEMU ${perRound('pmemvm', 'qemu', 'p50')}; p99 ${perRound('pmemvm', 'qemu', 'p99')}; ` +
    `flush-hint/virtio-pmem p50 ${perRound('hint', 'pmemvm', 'p50')}; in the kernel/by pmemvm p50 ${perRound('pmemvm', 'user', 'p50')}, p99 ${perRound('pmemvm', 'user', 'p99')}`);
  const warm = (path: 'pmemvm' | 'qemu' | 'user', key: 'p50' | 'p99' | 'mean') => median(runs[path].map((r) => r.warm![key]));
  const warmRatio = (key: 'p50' | 'p99', path: 'pmemvm' | 'user' = 'pmemvm') => median(runs[path].map((r, i) => r.warm![key] / runs.qemu[i]!.warm![key]));
  printTable(`the same, warm: ${FLUSHES} flushes measured again in the same guests after ${WARMUP} more (both VMMs' flush paths long since run)`,
    ['who', 'p50', 'p99', 'mean', 'p50 vs QEMU', 'p99 vs QEMU'],
    [
      ['pmemvm virtio-pmem, warm', us(warm('pmemvm', 'p50')), us(warm('pmemvm', 'p99')), us(warm('pmemvm', 'mean')), x2(warmRatio('p50')), x2(warmRatio('p99'))],
      ['QEMU virtio-pmem, warm', us(warm('qemu', 'p50')), us(warm('qemu', 'p99')), us(warm('qemu', 'mean')), '1.00x', '1.00x'],
      ['pmemvm, answered by pmemvm, warm', us(warm('user', 'p50')), us(warm('user', 'p99')), us(warm('user', 'mean')), x2(warmRatio('p50', 'user')), x2(warmRatio('p99', 'user'))],
    ]);
  console.log(`per-round ratios, warm: p50 ${runs.pmemvm.map((r, i) => (r.warm!.p50 / runs.qemu[i]!.warm!.p50).toFixed(2)).join(' ')}; ` +
    `p99 ${runs.pmemvm.map((r, i) => (r.warm!.p99 / runs.qemu[i]!.warm!.p99).toFixed(2)).join(' ')}`);
  const pmemvm = runs.pmemvm[runs.pmemvm.length - 1]!, qemu = runs.qemu[runs.qemu.length - 1]!;
  printTable(`virtio-pmem sequential bandwidth in the guest, MiB/s, last round (${BW_MIB} MiB, bs=1M, O_DIRECT, first touch)`,
    ['VMM', 'write', 'vs QEMU', 'read', 'vs QEMU'],
    [
      ['pmemvm', pmemvm.writeMiBs!.toFixed(0), `${(pmemvm.writeMiBs! / qemu.writeMiBs!).toFixed(2)}x`, pmemvm.readMiBs!.toFixed(0), `${(pmemvm.readMiBs! / qemu.readMiBs!).toFixed(2)}x`],
      ['QEMU', qemu.writeMiBs!.toFixed(0), '1.00x', qemu.readMiBs!.toFixed(0), '1.00x'],
    ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
