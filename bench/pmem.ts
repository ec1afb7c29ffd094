// bench/pmem: sequential bandwidth of an NVDIMM's /dev/pmem0 from inside the guest
// (direct I/O, 1 MiB blocks, 512 MiB), pmemvm beside QEMU (-accel kvm) in the same run
// with the same command line. The guest touches the mapping directly, so nothing of
// either VMM is on this path once the pages are mapped: the ratios should be ~1.
import { mkdtempSync, rmSync } from 'node:fs';
import { sparseFile } from '../test/lib/files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGuest } from '../test/lib/guest.js';
import { median, printTable } from './table.js';

const MiB = 1 << 20;
const SIZE_MIB = 512;
const PASSES = Number(process.env.PMEMVM_BENCH_RUNS ?? 5);

// /proc/timer_list's "now at N nsecs" is the only nanosecond clock busybox can read.
const SCRIPT = `
now() { awk '/^now at/ {print $3; exit}' /proc/timer_list; }
i=0
while [ $i -lt ${PASSES} ]; do
  a=$(now); dd if=/dev/zero of=/dev/pmem0 bs=1M count=${SIZE_MIB} oflag=direct 2>/dev/null || echo DD-FAILED
  b=$(now); dd if=/dev/pmem0 of=/dev/null bs=1M count=${SIZE_MIB} iflag=direct 2>/dev/null || echo DD-FAILED
  c=$(now); echo "PASS $i write_ns=$((b - a)) read_ns=$((c - b))"
  i=$((i + 1))
done
`;

interface Pass { write: number; read: number }

async function measure(vmm: 'pmemvm' | 'qemu', dir: string): Promise<Pass[]> {
  const file = sparseFile(join(dir, `${vmm}.img`), SIZE_MIB * MiB);
  const r = await runGuest({
    vmm,
    args: ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=2G',
      '-object', `memory-backend-file,id=mem0,share=on,mem-path=${file},size=${SIZE_MIB}M`,
      '-device', 'nvdimm,id=nv0,memdev=mem0'],
    script: SCRIPT,
    timeoutMs: 600_000,
  });
  const passes = [...r.output.matchAll(/^PASS \d+ write_ns=(\d+) read_ns=(\d+)$/gm)].map((m) => ({ write: Number(m[1]), read: Number(m[2]) }));
  if (r.guestExit !== 0 || passes.length !== PASSES || r.output.includes('DD-FAILED')) {
    throw new Error(`${vmm}: the guest did not finish the benchmark:\n${r.output}`);
  }
  rmSync(file, { force: true });
  return passes;
}

const mibps = (ns: number) => (SIZE_MIB / (ns / 1e9));
const dir = mkdtempSync(join(tmpdir(), 'pmemvm-bench-pmem-'));
try {
  const results = { pmemvm: await measure('pmemvm', dir), qemu: await measure('qemu', dir) };
  // Pass 0 writes into untouched pages (host faults); later passes are steady state.
  const row = (name: string, v: 'pmemvm' | 'qemu') => {
    const p = results[v];
    const q = results.qemu;
    const warmW = median(p.slice(1).map((x) => mibps(x.write)));
    const warmR = median(p.slice(1).map((x) => mibps(x.read)));
    const qW = median(q.slice(1).map((x) => mibps(x.write)));
    const qR = median(q.slice(1).map((x) => mibps(x.read)));
    return [name, mibps(p[0]!.write).toFixed(0), warmW.toFixed(0), `${(warmW / qW).toFixed(2)}x`, warmR.toFixed(0), `${(warmR / qR).toFixed(2)}x`];
  };
  printTable(`/dev/pmem0 sequential bandwidth in the guest, MiB/s (${SIZE_MIB} MiB, bs=1M, O_DIRECT; median of passes 2-${PASSES})`,
    ['VMM', 'first write', 'write', 'vs QEMU', 'read', 'vs QEMU'],
    [row('pmemvm', 'pmemvm'), row('QEMU', 'qemu')]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
