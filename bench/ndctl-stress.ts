// bench/ndctl-stress: many boots that each run `ndctl list -BDRN -v` once, for the two
// configurations of issue 16 (two NVDIMMs, one unarmed, mem-ctrl persistence; one NVDIMM
// and four virtio-pmem devices), pmemvm and QEMU taking turns. A boot that does not finish
// its command within 90 s is a hang; pmemvm is asked where the guest is (SIGUSR1) first,
// and that answer is saved for the hang's explanation. PMEMVM_BENCH_STRESS_BOOTS sets the
// boots per configuration and VMM (default 50).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sparseFile } from '../test/lib/files.js';
import { guestImage, runGuest } from '../test/lib/guest.js';
import { median, printTable } from './table.js';

const BOOTS = Number(process.env.PMEMVM_BENCH_STRESS_BOOTS ?? 50);
const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'pmemvm-stress-'));

type Vmm = 'pmemvm' | 'qemu';
const file = (name: string, mib: number) => sparseFile(join(dir, name), mib * MiB);
const backend = (id: string, path: string, mib: number) => ['-object', `memory-backend-file,id=${id},share=on,mem-path=${path},size=${mib}M`];

const configs: Array<{ name: string; args: () => string[] }> = [
  {
    name: '2 NVDIMMs (one unarmed), mem-ctrl',
    args: () => [
      '-machine', 'pc,nvdimm=on,nvdimm-persistence=mem-ctrl', '-m', '512M,slots=4,maxmem=4G', '-smp', '1',
      ...backend('m0', file('a.img', 192), 192), '-device', 'nvdimm,id=nv0,memdev=m0',
      ...backend('m1', file('b.img', 320), 320), '-device', 'nvdimm,id=nv1,memdev=m1,unarmed=on',
    ],
  },
  {
    name: '1 NVDIMM + 4 virtio-pmem',
    args: () => [
      '-machine', 'pc,nvdimm=on', '-m', '512M,slots=8,maxmem=8G', '-smp', '1',
      ...backend('n0', file('n.img', 256), 256), '-device', 'nvdimm,id=nv0,memdev=n0',
      ...[0, 1, 2, 3].flatMap((i) => [...backend(`v${i}`, file(`v${i}.img`, 64), 64), '-device', `virtio-pmem-pci,id=vp${i},memdev=v${i}`]),
    ],
  },
];

const rows: string[][] = [];
try {
  for (const c of configs) {
    const stats: Record<Vmm, { hangs: number; ms: number[] }> = { pmemvm: { hangs: 0, ms: [] }, qemu: { hangs: 0, ms: [] } };
    for (let i = 0; i < BOOTS; i++) {
      for (const vmm of (i % 2 ? ['qemu', 'pmemvm'] : ['pmemvm', 'qemu']) as Vmm[]) {
        const r = await runGuest({
          // pmemvm boots the bzImage, as in the report (the test library's default is the vmlinux).
          vmm, args: [...c.args(), ...(vmm === 'qemu' ? ['-cpu', 'host'] : ['-kernel', guestImage().bzImage])],
          script: 'ndctl list -BDRN -v; echo NDCTL-DONE=$?', timeoutMs: 90_000, dumpAfterMs: 85_000,
        });
        if (r.output.includes('NDCTL-DONE=0') && r.exitCode === 0) {
          stats[vmm].ms.push(r.ms);
        } else {
          stats[vmm].hangs++;
          // The test host's /tmp goes with it: the end of the output (with pmemvm's state dump) goes to ours.
          console.log(`${c.name}: ${vmm} boot ${i} did not finish (exit ${r.exitCode}); the end of its output:\n${r.output.slice(-5000)}`);
        }
      }
    }
    for (const vmm of ['pmemvm', 'qemu'] as Vmm[]) {
      const s = stats[vmm];
      rows.push([c.name, vmm, String(BOOTS), String(s.hangs), s.ms.length ? (median(s.ms) / 1000).toFixed(1) : '-']);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
printTable(`ndctl list -BDRN -v, one per boot, ${BOOTS} boots per row (test host)`, ['configuration', 'VMM', 'boots', 'hangs', 'median boot+command s'], rows);
if (rows.some((r) => r[1] === 'pmemvm' && r[3] !== '0')) process.exitCode = 1;
