// bench/hotplug: time from device_add (HMP, the documents' lines) to the new block device
// appearing in the guest, for an NVDIMM and for virtio-pmem-pci, pmemvm beside QEMU 7.2
// (-accel kvm) with the same guest in the same run. Each round adds a new device (QEMU
// cannot unplug either kind); the guest polls for /dev/pmemN every 10 ms and says so on
// its console, and the clock stops when the host reads that line. Printed, never asserted.
import { join } from 'node:path';
import { startVmm } from '../test/lib/vmm.js';
import { hmpSession } from '../test/lib/hmp.js';
import { median, printTable } from './table.js';

const ROUNDS = Number(process.env.PMEMVM_BENCH_HOTPLUG_ROUNDS ?? 6);
const KINDS = ['nvdimm', 'virtio-pmem-pci'] as const;
type Kind = typeof KINDS[number];

// After each device, the kernel's lines since the last one (dmesg -c): their first and last
// timestamps give the guest's own share (ACPI, probe, region), the rest is notification.
const SCRIPT = [
  'dmesg -c >/dev/null',
  'echo HP-BENCH-READY',
  'k=0; while true; do',
  '  while [ ! -e /dev/pmem$k ]; do usleep 10000; done',
  '  echo "HP-APPEARED $k"',
  '  dmesg -c | sed "s/^/HP-DMESG $k /"',
  '  k=$((k+1))',
  'done',
].join('\n');

/** Seconds from the first to the last kernel line of device `k`'s hotplug, from the guest's own clock. */
function guestSpanMs(output: string, k: number): number | null {
  const stamps = [...output.matchAll(new RegExp(`^HP-DMESG ${k} \\[\\s*(\\d+\\.\\d+)\\]`, 'gm'))].map((m) => Number(m[1]));
  return stamps.length >= 2 ? (stamps[stamps.length - 1]! - stamps[0]!) * 1000 : null;
}

/** Milliseconds from each device_add to its block device, `ROUNDS` devices in one boot; and the guest's own span of each. */
async function measure(vmm: 'pmemvm' | 'qemu', kind: Kind): Promise<{ ms: number[]; spans: number[] }> {
  const vm = await startVmm({
    vmm, script: SCRIPT,
    args: (dir) => ['-machine', 'pc,nvdimm=on', '-m', `512M,slots=${ROUNDS},maxmem=${1 + ROUNDS}G`, '-monitor', `unix:${join(dir, 'hmp.sock')},server=on,wait=off`],
  });
  try {
    await vm.waitFor(/^HP-BENCH-READY$/m);
    await new Promise((r) => setTimeout(r, 2000)); // let the guest settle
    const h = await hmpSession(join(vm.dir, 'hmp.sock'));
    const ms: number[] = [];
    const spans: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const add = await h.run(`object_add memory-backend-file,id=mem${i},share=on,mem-path=${join(vm.dir, `m${i}.img`)},size=256M`);
      if (add !== '') throw new Error(`${vmm}: object_add: ${add}`);
      const from = vm.output().length;
      const t0 = process.hrtime.bigint();
      const reply = await h.run(`device_add ${kind},id=dev${i},memdev=mem${i}`);
      if (reply !== '') throw new Error(`${vmm}: device_add ${kind}: ${reply}`);
      await vm.waitFor(new RegExp(`^HP-APPEARED ${i}$`, 'm'), 60_000, from);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await new Promise((r) => setTimeout(r, 500));
      const span = guestSpanMs(vm.output(), i);
      if (span !== null) spans.push(span);
      if (i === 0 && process.env.PMEMVM_BENCH_HOTPLUG_DMESG) process.stdout.write(vm.output().split('\n').filter((l) => l.startsWith('HP-DMESG 0 ')).join('\n') + '\n');
    }
    h.close();
    return { ms, spans };
  } finally {
    await vm.close();
  }
}

const rows: string[][] = [];
for (const kind of KINDS) {
  const p = await measure('pmemvm', kind);
  const q = await measure('qemu', kind);
  const [pm, qm] = [median(p.ms), median(q.ms)];
  const span = (s: number[]) => (s.length ? median(s).toFixed(0) : '-');
  rows.push([kind, pm.toFixed(0), Math.max(...p.ms).toFixed(0), qm.toFixed(0), Math.max(...q.ms).toFixed(0), `${(pm / qm).toFixed(2)}x`, span(p.spans), span(q.spans)]);
}
printTable(`device_add to the guest's /dev/pmemN, ms (${ROUNDS} devices per VMM and kind, each a new 256M backend; median and worst; ` +
  "guest span: first to last kernel line of the hotplug, the guest's own clock)",
  ['device', 'pmemvm median', 'pmemvm worst', 'QEMU median', 'QEMU worst', 'median pmemvm/QEMU', 'guest span pmemvm', 'guest span QEMU'], rows);
