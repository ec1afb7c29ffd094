// bench/footprint: what the VMM itself costs beside the guest, pmemvm beside QEMU 7.2 in the
// same run, with no pmem device, with NVDIMMs only, and with 1, 4 and 8 virtio-pmem devices
// beside a 1G NVDIMM with labels. Each guest writes and fsyncs one block on every /dev/pmem it
// has (so every device's request path has run) and idles; then the process is sampled.
// Printed, never asserted.
//
// The rule, the same for both VMMs:
// * memory beside the guest = the Rss of every mapping in /proc/PID/smaps except guest RAM
//   (the read-write anonymous or shared mapping of at least the RAM size; exactly one must be
//   found) and the memory backends (files in the run's private directory). Rss, not Pss: Pss
//   splits a page among every process that maps it, so pmemvm's node text would count half
//   while this bench (a node process too) runs beside it, and QEMU's libraries would count in
//   full; Rss is what the VMM costs when it runs alone, whatever else runs on the host.
// * both VMMs boot the same kernel file (the bzImage) and initrd. The suite gives QEMU the
//   vmlinux (PVH entry, faster under nested KVM); QEMU keeps that 66 MB ELF file mapped for
//   its ROM blobs, and the segments it copied into the guest stay resident in that mapping:
//   counted, those file pages made QEMU ~96 MiB here where issue 15 measured 50
//   (PMEMVM_FOOTPRINT_KERNEL=vmlinux shows it). With the bzImage QEMU keeps the kernel and
//   initrd in its heap (fw_cfg), counted, as it would in any deployment; pmemvm reads them
//   straight into guest RAM and keeps nothing.
// * the total is split into anonymous memory (heap, V8 heap, stacks, malloc arenas: what the
//   process allocated) and file pages (the VMM's binary, shared libraries and koffi's .node,
//   other mapped files: shareable and reclaimable), each also as Pss for the reader.
// * threads: the entries of /proc/PID/task, with their names.
// PMEMVM_FOOTPRINT_CONFIGS=0,2 (indices) runs some configurations, PMEMVM_FOOTPRINT_VMMS=pmemvm
// one VMM, PMEMVM_FOOTPRINT_KERNEL=vmlinux another kernel file for both,
// PMEMVM_FOOTPRINT_DUMP=DIR saves each process's smaps and thread names there.
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
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

type Kind = 'anon' | 'binary' | 'libs' | 'files';
const KINDS: Kind[] = ['anon', 'binary', 'libs', 'files'];
interface Usage { rss: Record<Kind, number>; pss: Record<Kind, number>; ramMappings: number; biggest: string[]; smaps: string }
const zero = (): Record<Kind, number> => ({ anon: 0, binary: 0, libs: 0, files: 0 });
const total = (r: Record<Kind, number>) => KINDS.reduce((a, k) => a + r[k], 0);

/** KiB resident in every mapping except guest RAM and the backend files under `dir`, by kind. */
function besideGuest(pid: number, dir: string): Usage {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const rss = zero(), pss = zero();
  let ramMappings = 0, skip = false, name = '', kind: Kind = 'anon';
  const byName = new Map<string, number>();
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = parseInt(head[2]!, 16) - parseInt(head[1]!, 16);
      const path = head[4]!;
      const anonymous = path === '' || path.startsWith('/dev/zero') || path.startsWith('/memfd:') || path.startsWith('[');
      // Address-space reservations (---p) are as big but hold nothing resident.
      const ram = anonymous && head[3]!.startsWith('rw') && size >= RAM_MIB * 2 ** 20;
      if (ram) ramMappings++;
      skip = ram || path.startsWith(dir);
      kind = anonymous ? 'anon' : path === exe ? 'binary' : /\.so(\.|$)|\.node$/.test(path) ? 'libs' : 'files';
      name = `${path || '[anonymous]'} ${head[3]}`;
      continue;
    }
    const m = /^(Rss|Pss):\s+(\d+) kB/.exec(line);
    if (!m || skip) continue;
    const kib = Number(m[2]);
    if (m[1] === 'Rss') {
      rss[kind] += kib;
      byName.set(name, (byName.get(name) ?? 0) + kib);
    } else pss[kind] += kib;
  }
  // Where the memory is, for the reader: the largest mappings by name and protection.
  const biggest = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([n, k]) => `${(k / 1024).toFixed(1)} MiB ${n}`);
  return { rss, pss, ramMappings, biggest, smaps: text };
}

function threadNames(pid: number): string {
  const names = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const n = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      names.set(n, (names.get(n) ?? 0) + 1);
    } catch { /* the thread ended */ }
  }
  return [...names].map(([n, c]) => (c > 1 ? `${n} x${c}` : n)).join(', ');
}

interface Sample { mib: number; threads: number; rss: Record<Kind, number>; pss: Record<Kind, number>; biggest: string[]; names: string }

const DUMP = process.env.PMEMVM_FOOTPRINT_DUMP;
const KERNEL = (process.env.PMEMVM_FOOTPRINT_KERNEL ?? 'bzImage') as 'bzImage' | 'vmlinux';

async function measure(vmm: 'pmemvm' | 'qemu', c: Config): Promise<Sample> {
  const vm = await startVmm({ vmm, script: SCRIPT, args: (dir) => args(c, dir), qmp: false, kernel: KERNEL });
  try {
    await vm.waitFor(/^FOOTPRINT-READY \d+$/m, 300_000);
    const pid = vm.child.pid!;
    const samples: { u: Usage; threads: number }[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      const u = besideGuest(pid, vm.dir);
      if (u.ramMappings !== 1) throw new Error(`${vmm} ${c.name}: ${u.ramMappings} mappings look like guest RAM, expected 1`);
      samples.push({ u, threads: readdirSync(`/proc/${pid}/task`).length });
    }
    samples.sort((a, b) => total(a.u.rss) - total(b.u.rss));
    const mid = samples[Math.floor(samples.length / 2)]!;
    const names = threadNames(pid);
    if (DUMP) {
      mkdirSync(DUMP, { recursive: true });
      const base = join(DUMP, `${vmm}-${c.nvdimms}nv-${c.virtioPmems}vp`);
      writeFileSync(`${base}.smaps`, mid.u.smaps);
      writeFileSync(`${base}.threads`, names + '\n');
    }
    return { mib: total(mid.u.rss) / 1024, threads: median(samples.map((s) => s.threads)), rss: mid.u.rss, pss: mid.u.pss, biggest: mid.u.biggest, names };
  } finally {
    await vm.close();
  }
}

const pick = process.env.PMEMVM_FOOTPRINT_CONFIGS?.split(',').map(Number);
const configs = pick ? CONFIGS.filter((_, i) => pick.includes(i)) : CONFIGS;
const vmms = (process.env.PMEMVM_FOOTPRINT_VMMS?.split(',') ?? ['pmemvm', 'qemu']) as ('pmemvm' | 'qemu')[];
const none: Sample = { mib: NaN, threads: NaN, rss: zero(), pss: zero(), biggest: [], names: '' };
const split = (s: Sample) => KINDS.map((k) => `${k} ${(s.rss[k] / 1024).toFixed(1)} (Pss ${(s.pss[k] / 1024).toFixed(1)})`).join(', ');

const results = new Map<string, { pmemvm: Sample; qemu: Sample }>();
for (const c of configs) {
  const pmemvm = vmms.includes('pmemvm') ? await measure('pmemvm', c) : none;
  const qemu = vmms.includes('qemu') ? await measure('qemu', c) : none;
  results.set(c.name, { pmemvm, qemu });
  console.log(`${c.name}: pmemvm ${pmemvm.mib.toFixed(1)} MiB ${pmemvm.threads} threads, QEMU ${qemu.mib.toFixed(1)} MiB ${qemu.threads} threads`);
  for (const [n, r] of [['pmemvm', pmemvm], ['QEMU', qemu]] as const) {
    if (Number.isNaN(r.mib)) continue;
    console.log(`  ${n}: MiB by kind: ${split(r)}\n    threads: ${r.names}\n    largest: ${r.biggest.join('; ')}`);
  }
}

const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const rows = configs.map((c) => {
  const r = results.get(c.name)!;
  return [c.name, r.pmemvm.mib.toFixed(1), r.qemu.mib.toFixed(1), x(r.pmemvm.mib, r.qemu.mib), String(r.pmemvm.threads), String(r.qemu.threads),
    (r.pmemvm.rss.anon / 1024).toFixed(1), (r.qemu.rss.anon / 1024).toFixed(1)];
});
const one = results.get('1 NVDIMM + 1 virtio-pmem'), eight = results.get('1 NVDIMM + 8 virtio-pmem');
if (one && eight) {
  const per = { pmemvm: (eight.pmemvm.mib - one.pmemvm.mib) / 7, qemu: (eight.qemu.mib - one.qemu.mib) / 7 };
  const anon = { pmemvm: (eight.pmemvm.rss.anon - one.pmemvm.rss.anon) / 7 / 1024, qemu: (eight.qemu.rss.anon - one.qemu.rss.anon) / 7 / 1024 };
  const signed = (v: number) => `${v < 0 ? '' : '+'}${v.toFixed(2)}`;
  rows.push(['each further virtio-pmem (1 to 8, /7)', signed(per.pmemvm), signed(per.qemu),
    per.qemu > 0 ? x(per.pmemvm, per.qemu) : '', signed((eight.pmemvm.threads - one.pmemvm.threads) / 7),
    signed((eight.qemu.threads - one.qemu.threads) / 7), signed(anon.pmemvm), signed(anon.qemu)]);
}
printTable(`VMM memory beside the guest (Rss of every mapping but guest RAM and backends), MiB, median of ${SAMPLES} samples; ${RAM_MIB}M guest RAM, kernel ${KERNEL} for both`,
  ['configuration', 'pmemvm MiB', 'QEMU MiB', 'pmemvm/QEMU', 'pmemvm threads', 'QEMU threads', 'pmemvm anon', 'QEMU anon'], rows);
