// bench/footprint: what the VMM itself costs beside the guest, pmemvm beside QEMU 7.2 in the
// same run: resident memory summed over every mapping of the process except guest RAM and
// the memory backends (/proc/PID/smaps), and the thread count, with no pmem device, with
// NVDIMMs only, and with 1, 4 and 8 virtio-pmem devices beside a 1G NVDIMM with labels.
// Each guest writes and fsyncs one block on every /dev/pmem it has (so every device's
// request path has run) and idles; then the process is sampled. Printed, never asserted.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startVmm } from '../test/lib/vmm.js';
import { median, printTable } from './table.js';

const RAM_MIB = 256;
const SAMPLES = 3;

interface Config { name: string; nvdimms: number; virtioPmems: number }
const CONFIGS: Config[] = [
  { name: 'no pmem device', nvdimms: 0, virtioPmems: 0 },
  { name: '2 NVDIMMs (1G, labels)', nvdimms: 2, virtioPmems: 0 },
  { name: '1 NVDIMM + 1 virtio-pmem', nvdimms: 1, virtioPmems: 1 },
  { name: '1 NVDIMM + 4 virtio-pmem', nvdimms: 1, virtioPmems: 4 },
  { name: '1 NVDIMM + 8 virtio-pmem', nvdimms: 1, virtioPmems: 8 },
];

function args(c: Config, dir: string): string[] {
  const a = ['-machine', `pc,nvdimm=${c.nvdimms > 0 ? 'on' : 'off'}`, '-m', `${RAM_MIB}M,slots=4,maxmem=8G`];
  for (let i = 0; i < c.nvdimms; i++) {
    a.push('-object', `memory-backend-file,id=nvm${i},share=on,mem-path=${join(dir, `nv${i}.img`)},size=1G`,
      '-device', `nvdimm,memdev=nvm${i},id=nvdimm${i},label-size=128K`);
  }
  for (let i = 0; i < c.virtioPmems; i++) {
    a.push('-object', `memory-backend-file,id=vpm${i},share=on,mem-path=${join(dir, `vp${i}.img`)},size=256M`,
      '-device', `virtio-pmem-pci,memdev=vpm${i},id=vpmem${i}`);
  }
  return a;
}

const SCRIPT = [
  'for d in /dev/pmem*; do [ -e "$d" ] && dd if=/dev/zero of=$d bs=4096 count=1 conv=fsync 2>/dev/null; done',
  'echo "FOOTPRINT-READY $(ls /dev/pmem* 2>/dev/null | wc -l)"',
  'sleep 100000',
].join('\n');

/**
 * Resident KiB of every mapping except guest RAM (the read-write anonymous or shared-zero
 * mapping of at least the RAM size) and the backend files under `dir`.
 */
function besideGuest(pid: number, dir: string): { kib: number; ramMappings: number; biggest: string[] } {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n');
  let kib = 0, ramMappings = 0, skip = false, name = '';
  const byName = new Map<string, number>();
  for (const line of smaps) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = parseInt(head[2]!, 16) - parseInt(head[1]!, 16);
      const path = head[4]!;
      const anonymous = path === '' || path.startsWith('/dev/zero') || path.startsWith('/memfd:') || path.startsWith('[anon');
      // Address-space reservations (---p) are as big but hold nothing resident.
      const ram = anonymous && head[3]!.startsWith('rw') && size >= RAM_MIB * 2 ** 20;
      if (ram) ramMappings++;
      skip = ram || path.startsWith(dir);
      name = `${path || '[anonymous]'} ${head[3]}`;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && !skip) {
      kib += Number(rss[1]);
      byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]));
    }
  }
  // Where the memory is, for the reader: the largest mappings by name and protection.
  const biggest = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([n, k]) => `${(k / 1024).toFixed(1)} MiB ${n}`);
  return { kib, ramMappings, biggest };
}

interface Sample { mib: number; threads: number; biggest: string[] }

async function measure(vmm: 'pmemvm' | 'qemu', c: Config): Promise<Sample> {
  const vm = await startVmm({ vmm, script: SCRIPT, args: (dir) => args(c, dir), qmp: false });
  try {
    await vm.waitFor(/^FOOTPRINT-READY \d+$/m, 300_000);
    const pid = vm.child.pid!;
    const mib: number[] = [];
    const threads: number[] = [];
    let biggest: string[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      const m = besideGuest(pid, vm.dir);
      if (m.ramMappings !== 1) throw new Error(`${vmm} ${c.name}: ${m.ramMappings} mappings look like guest RAM, expected 1`);
      mib.push(m.kib / 1024);
      biggest = m.biggest;
      threads.push(readdirSync(`/proc/${pid}/task`).length);
    }
    return { mib: median(mib), threads: median(threads), biggest };
  } finally {
    await vm.close();
  }
}

const results = new Map<string, { pmemvm: Sample; qemu: Sample }>();
for (const c of CONFIGS) {
  const pmemvm = await measure('pmemvm', c);
  const qemu = await measure('qemu', c);
  results.set(c.name, { pmemvm, qemu });
  console.log(`${c.name}: pmemvm ${pmemvm.mib.toFixed(1)} MiB ${pmemvm.threads} threads, QEMU ${qemu.mib.toFixed(1)} MiB ${qemu.threads} threads`);
  console.log(`  pmemvm's largest: ${pmemvm.biggest.join('; ')}\n  QEMU's largest: ${qemu.biggest.join('; ')}`);
}

const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const rows = CONFIGS.map((c) => {
  const r = results.get(c.name)!;
  return [c.name, r.pmemvm.mib.toFixed(1), r.qemu.mib.toFixed(1), x(r.pmemvm.mib, r.qemu.mib), String(r.pmemvm.threads), String(r.qemu.threads)];
});
const one = results.get('1 NVDIMM + 1 virtio-pmem')!, eight = results.get('1 NVDIMM + 8 virtio-pmem')!;
const per = { pmemvm: (eight.pmemvm.mib - one.pmemvm.mib) / 7, qemu: (eight.qemu.mib - one.qemu.mib) / 7 };
rows.push(['each further virtio-pmem (1 to 8, /7)', `+${per.pmemvm.toFixed(2)}`, `+${per.qemu.toFixed(2)}`,
  per.qemu > 0 ? x(per.pmemvm, per.qemu) : '', `+${((eight.pmemvm.threads - one.pmemvm.threads) / 7).toFixed(2)}`, `+${((eight.qemu.threads - one.qemu.threads) / 7).toFixed(2)}`]);
printTable(`VMM memory beside the guest (RSS of every mapping but guest RAM and backends), MiB, median of ${SAMPLES} samples; ${RAM_MIB}M guest RAM`,
  ['configuration', 'pmemvm MiB', 'QEMU MiB', 'pmemvm/QEMU', 'pmemvm threads', 'QEMU threads'], rows);
