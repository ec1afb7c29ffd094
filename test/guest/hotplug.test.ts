// Hotplug on a real guest, driven as QEMU's documents drive it: the lines of
// docs/nvdimm.txt and docs/system/devices/virtio-pmem.rst typed at the HMP prompt of
// a running pmemvm, the guest's own drivers (nfit re-reading _FIT, acpiphp scanning a
// slot) bringing up the new device, QEMU 7.2 given the same lines beside it, and
// what QEMU cannot do (virtio-pmem unplug) shown to work and to leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startVmm, type RunningVmm } from '../lib/vmm.js';
import { DEFAULT_APPEND } from '../lib/guest.js';
import { hmpSession } from '../lib/hmp.js';
import { readAt } from '../lib/files.js';
import { block, field, jsonBlock, printBlock } from '../lib/guest-json.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Waits in the guest until `path` exists (or is gone, with `gone`), up to 60 s. */
const waitPath = (path: string, gone = false) =>
  `i=0; while [ ${gone ? '' : '! '}-e ${path} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;

const PMEM_VIEW = (tag: string) => [
  printBlock(`${tag}NDCTL`, 'ndctl list -RDN'),
  printBlock(`${tag}PMEMDEV`, 'for b in /sys/block/pmem*; do echo "${b##*/} $(( $(cat $b/size) * 512 ))"; done'),
  `echo ${tag}ERRORS=$(dmesg | grep -ciE 'nfit.*(fail|error|disabl|unsupported)|acpiphp.*(fail|error)|ACPI Error|BUG:|WARNING:')`,
  `dmesg | grep -iE 'nfit|nvdimm|acpiphp|ACPI Error|pci 0000' | sed 's/^/${tag}DMESG: /'`,
].join('\n');

async function hmpOf(vm: RunningVmm) { return hmpSession(join(vm.dir, 'hmp.sock')); }
const hmpArgs = (dir: string) => ['-monitor', `unix:${join(dir, 'hmp.sock')},server=on,wait=off`];

interface NdctlRegion { dev: string; size: number; mappings?: { dimm: string }[]; namespaces?: { mode: string; size: number; blockdev?: string }[] }
interface NdctlList { dimms?: { dev: string; handle: number }[]; regions?: NdctlRegion[] }

/** ndctl -RDN for one VMM, with the physical addresses left out where pmemvm's placement may differ. */
const ndctlView = (output: string, tag: string) => jsonBlock<NdctlList>(output, `${tag}NDCTL`);

test("docs/nvdimm.txt's hotplug lines at the HMP prompt: the running guest gets a new NVDIMM of exactly that size, as on QEMU; guest writes reach the file", async () => {
  const PATTERN = 'PMEMVM-HOTPLUG-NVDIMM-PATTERN';
  const OFFSET = 3 * MiB + 17;
  const script = [
    'echo HP-BOOTED',
    waitPath('/dev/pmem1'),
    'sleep 1',
    PMEM_VIEW('AFTER'),
    `printf '${PATTERN}' | dd of=/dev/pmem1 bs=1 seek=${OFFSET} conv=notrunc,fsync 2>/dev/null; echo WROTE=$?`,
    'echo HP-DONE',
    'sleep 1000',
  ].join('\n');
  const runs: Record<string, { output: string; devices: unknown; file: string }> = {};
  for (const vmm of ['pmemvm', 'qemu'] as const) {
    const vm = await startVmm({
      vmm, script, args: (dir) => [
        '-machine', 'pc,nvdimm=on', '-m', '512M,slots=4,maxmem=8G', ...hmpArgs(dir),
        '-object', `memory-backend-file,id=mem1,share=on,mem-path=${join(dir, 'nvdimm1.img')},size=256M`,
        '-device', 'nvdimm,id=nvdimm1,memdev=mem1',
      ],
    });
    try {
      await vm.waitFor(/^HP-BOOTED$/m);
      const h = await hmpOf(vm);
      // docs/nvdimm.txt's lines, verbatim: the relative mem-path lands in the VMM's working directory.
      const file = join(vm.dir, 'new_nvdimm.img');
      assert.equal(await h.run('object_add memory-backend-file,id=mem2,share=on,mem-path=new_nvdimm.img,size=4G'), '');
      assert.equal(await h.run('device_add nvdimm,id=nvdimm2,memdev=mem2'), '');
      await vm.waitFor(/^HP-DONE$/m);
      const info = await h.run('info memory-devices');
      assert.match(info, /Memory device \[nvdimm\]: "nvdimm2"\n[\s\S]*hotplugged: true/, info);
      h.close();
      runs[vmm] = { output: vm.output(), devices: await vm.qmp.execute('query-memory-devices'), file };
      assert.equal(readAt(file, OFFSET, PATTERN.length).toString('latin1'), PATTERN, `${vmm}: the guest's write is in the file`);
      await vm.qmp.execute('quit');
      assert.equal(await vm.exit(), 0);
    } finally {
      await vm.close();
    }
  }
  const p = runs['pmemvm']!, q = runs['qemu']!;
  assert.equal(field(p.output, 'AFTERERRORS'), '0', p.output);
  assert.equal(field(p.output, 'WROTE'), '0');
  assert.equal(block(p.output, 'AFTERPMEMDEV').trim(), `pmem0 ${256 * MiB}\npmem1 ${4 * GiB}`);
  const view = ndctlView(p.output, 'AFTER');
  assert.equal(view.dimms?.length, 2, JSON.stringify(view));
  assert.deepEqual(view, ndctlView(q.output, 'AFTER'), 'ndctl -RDN: the same view as on QEMU');
  assert.equal(block(p.output, 'AFTERPMEMDEV'), block(q.output, 'AFTERPMEMDEV'));
  assert.deepEqual(p.devices, q.devices, 'query-memory-devices as on QEMU (hotplugged: true)');
});

test('virtio-pmem.rst\'s hotplug lines: the guest gets the device; device_del (which QEMU refuses) unplugs it, DEVICE_DELETED, object_del works, the freed slot takes a new device', async () => {
  const PATTERN = 'PMEMVM-HOTPLUG-VIRTIO-PATTERN';
  const OFFSET = 7 * MiB + 5;
  const script = [
    'echo HP-BOOTED',
    waitPath('/dev/pmem0'),
    PMEM_VIEW('PLUG'),
    printBlock('LSPCI', "for d in /sys/bus/pci/devices/*; do echo \"${d##*/} $(cat $d/vendor):$(cat $d/device)\"; done"),
    `printf '${PATTERN}' | dd of=/dev/pmem0 bs=1 seek=${OFFSET} conv=notrunc,fsync 2>/dev/null; echo WROTE=$?`,
    'echo HP-PLUGGED',
    // acpiphp removes the PCI device, then runs _EJ0: wait for the device itself, not only its disk.
    waitPath('/sys/bus/pci/devices/0000:00:02.0', true),
    printBlock('GONEPCI', "for d in /sys/bus/pci/devices/*; do echo \"${d##*/} $(cat $d/vendor):$(cat $d/device)\"; done"),
    'echo HP-GONE',
    waitPath('/dev/pmem0'),
    PMEM_VIEW('REPLUG'),
    'echo HP-REPLUGGED',
    'sleep 1000',
  ].join('\n');
  const vm = await startVmm({ vmm: 'pmemvm', script, args: (dir) => ['-m', '512M,maxmem=8G', ...hmpArgs(dir)] });
  try {
    const events: { event: string; data?: unknown }[] = [];
    vm.qmp.onEvent((e) => events.push({ event: e.event, data: e.data }));
    await vm.waitFor(/^HP-BOOTED$/m);
    const h = await hmpOf(vm);
    const file = join(vm.dir, 'virtio_pmem2.img');
    assert.equal(await h.run(`object_add memory-backend-file,id=mem2,share=on,mem-path=${file},size=4G`), '');
    assert.equal(await h.run('device_add virtio-pmem-pci,id=virtio_pmem2,memdev=mem2'), '');
    await vm.waitFor(/^HP-PLUGGED$/m);
    const out = vm.output();
    assert.equal(field(out, 'PLUGERRORS'), '0', out);
    assert.equal(block(out, 'PLUGPMEMDEV').trim(), `pmem0 ${4 * GiB}`);
    assert.match(block(out, 'LSPCI'), /^0000:00:02\.0 0x1af4:0x105b$/m, 'virtio-pmem (1af4:105b) in slot 2');
    assert.equal(field(out, 'WROTE'), '0');
    assert.equal(readAt(file, OFFSET, PATTERN.length).toString('latin1'), PATTERN, 'the guest\'s write is in the file');
    // The guest's fsync went through the hot-added device's queue (whose thread fsyncs the backend).
    const from = vm.output().length;
    vm.child.kill('SIGUSR1');
    const q = await vm.waitFor(/^pmemvm: state: virtio_pmem2: queue size \d+ avail\.idx=(\d+) used\.idx=(\d+)/m, 30_000, from);
    assert.ok(Number(q[2]) >= 1 && q[1] === q[2], `flush requests answered: ${q[0]}`);
    const pci = await vm.qmp.execute<{ devices: { slot: number; qdev_id: string }[] }[]>('query-pci');
    assert.deepEqual(pci[0]!.devices.map((d) => [d.slot, d.qdev_id]), [[0, ''], [2, 'virtio_pmem2']]);

    // device_del: the guest's acpiphp lets the device go, then pmemvm does.
    assert.equal(await h.run('object_del mem2'), "Error: object 'mem2' is in use, can not be deleted\n");
    assert.equal(await h.run('device_del virtio_pmem2'), '');
    await vm.qmp.waitEvent('DEVICE_DELETED', (e) => e.data?.['device'] === 'virtio_pmem2', 60_000);
    await vm.waitFor(/^HP-GONE$/m);
    assert.doesNotMatch(block(vm.output(), 'GONEPCI'), /1af4/, 'the guest has no virtio device left');
    assert.deepEqual(events.filter((e) => e.event === 'DEVICE_DELETED').map((e) => e.data), [
      { path: '/machine/peripheral/virtio_pmem2/virtio-backend' },
      { device: 'virtio_pmem2', path: '/machine/peripheral/virtio_pmem2' },
    ]);
    assert.deepEqual(await vm.qmp.execute('query-memory-devices'), []);
    assert.match(await h.run('device_del virtio_pmem2'), /^Error: Device 'virtio_pmem2' not found\n$/);
    assert.equal(await h.run('object_del mem2'), '', 'the backend is free once the device is gone');

    // The freed slot and address take a new device.
    const file3 = join(vm.dir, 'virtio_pmem3.img');
    assert.equal(await h.run(`object_add memory-backend-file,id=mem3,share=on,mem-path=${file3},size=1G`), '');
    assert.equal(await h.run('device_add virtio-pmem-pci,id=virtio_pmem3,memdev=mem3'), '');
    await vm.waitFor(/^HP-REPLUGGED$/m);
    assert.equal(block(vm.output(), 'REPLUGPMEMDEV').trim(), `pmem0 ${1 * GiB}`);
    assert.equal(field(vm.output(), 'REPLUGERRORS'), '0', vm.output());
    h.close();
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

test("virtio-pmem.rst's hotplug lines on QEMU 7.2 and on pmemvm: the guest sees the same device in the same slot; QEMU then refuses device_del", async () => {
  const script = [
    'echo HP-BOOTED',
    waitPath('/dev/pmem0'),
    PMEM_VIEW('PLUG'),
    printBlock('LSPCI', "for d in /sys/bus/pci/devices/*; do echo \"${d##*/} $(cat $d/vendor):$(cat $d/device) $(cat $d/class)\"; done"),
    'echo HP-PLUGGED',
    'sleep 1000',
  ].join('\n');
  const seen: Record<string, { output: string; pci: unknown; del: string }> = {};
  for (const vmm of ['qemu', 'pmemvm'] as const) {
    const vm = await startVmm({ vmm, script, args: (dir) => ['-m', '512M,maxmem=8G', ...hmpArgs(dir)] });
    try {
      await vm.waitFor(/^HP-BOOTED$/m);
      const h = await hmpOf(vm);
      assert.equal(await h.run(`object_add memory-backend-file,id=mem2,share=on,mem-path=${join(vm.dir, 'virtio_pmem2.img')},size=4G`), '');
      assert.equal(await h.run('device_add virtio-pmem-pci,id=virtio_pmem2,memdev=mem2'), '');
      await vm.waitFor(/^HP-PLUGGED$/m);
      const pci = await vm.qmp.execute<{ devices: { slot: number; qdev_id: string; class_info: unknown; id: unknown }[] }[]>('query-pci');
      seen[vmm] = {
        output: vm.output(),
        pci: pci[0]!.devices.filter((d) => d.qdev_id === 'virtio_pmem2').map((d) => ({ slot: d.slot, class: d.class_info, id: d.id })),
        del: vmm === 'qemu' ? await h.run('device_del virtio_pmem2') : '',
      };
      h.close();
    } finally {
      await vm.close();
    }
  }
  const p = seen['pmemvm']!, q = seen['qemu']!;
  assert.equal(field(p.output, 'PLUGERRORS'), '0', p.output);
  assert.equal(block(p.output, 'PLUGPMEMDEV').trim(), `pmem0 ${4 * GiB}`);
  assert.equal(block(p.output, 'PLUGPMEMDEV'), block(q.output, 'PLUGPMEMDEV'));
  const virtio = (out: string) => block(out, 'LSPCI').split('\n').filter((l) => l.includes('0x1af4')).join('\n');
  assert.equal(virtio(p.output), virtio(q.output), 'the same function in the same slot, as lspci sees it');
  assert.deepEqual(p.pci, q.pci, 'query-pci: the same slot, class and ids');
  assert.match(q.del, /^Error: .*cannot be unplugged/i, `QEMU 7.2's answer to device_del: ${q.del}`);
});

test('limits: slots, maxmem and a busy memdev are refused with QEMU\'s messages while the guest runs, and a refusal changes nothing', async () => {
  const vm = await startVmm({
    vmm: 'pmemvm', script: 'echo HP-BOOTED; i=0; while true; do echo "TICK $i $(ls /sys/block | grep -c pmem)"; i=$((i+1)); sleep 0.2; done',
    args: (dir) => ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=1,maxmem=1G', ...hmpArgs(dir)],
  });
  try {
    await vm.waitFor(/^HP-BOOTED$/m);
    const h = await hmpOf(vm);
    const add = (id: string, size: string) => h.run(`object_add memory-backend-file,id=${id},share=on,mem-path=${join(vm.dir, id)},size=${size}`);
    assert.equal(await add('big', '1G'), '');
    const before = await vm.qmp.execute('query-memory-devices');
    assert.match(await h.run('device_add nvdimm,id=nv0,memdev=big'),
      /^Error: .*not enough space, currently 0x0 in use of total space for memory devices 0x30000000/);
    assert.match(await h.run('device_add virtio-pmem-pci,id=vp0,memdev=big'), /not enough space, currently 0x0 in use/);
    assert.deepEqual(await vm.qmp.execute('query-memory-devices'), before, 'nothing changed');
    assert.equal(await h.run('object_del big'), '', 'a refused device_add leaves the backend unused');
    assert.equal(await add('a', '128M'), '');
    assert.equal(await add('b', '128M'), '');
    assert.equal(await h.run('device_add nvdimm,id=nv1,memdev=a'), '');
    assert.match(await h.run('device_add nvdimm,id=nv2,memdev=a'), /^Error: can't use already busy memdev: a\n$/);
    assert.match(await h.run('device_add nvdimm,id=nv2,memdev=b'), /^Error: .*no free slots available/);
    assert.match(await h.run('device_add nvdimm,id=nv1,memdev=b'), /^Error: Duplicate device ID 'nv1'\n$/);
    // virtio-pmem takes no ACPI slot: it still fits.
    assert.equal(await h.run('device_add virtio-pmem-pci,id=vp1,memdev=b'), '');
    assert.equal(await add('c', '64M'), '');
    assert.match(await h.run('device_add virtio-pmem-pci,id=vp2,memdev=c,addr=0x1'), /^Error: .*PCI slot 1 cannot take a device while the guest runs/);
    assert.match(await h.run('device_del nv1'), /^Error: nvdimm device hot unplug is not supported: Linux's nfit driver refuses/);
    const devices = await vm.qmp.execute<{ type: string; data: { id: string } }[]>('query-memory-devices');
    assert.deepEqual(devices.map((d) => [d.type, d.data.id]), [['nvdimm', 'nv1'], ['virtio-pmem', 'vp1']]);
    assert.equal(await h.run('device_add virtio-pmem-pci,id=vp2,memdev=c'), '', 'the refused device left its backend and id free');
    // Up to maxmem exactly (128M + 128M + 64M + 448M = 768M = maxmem - RAM), then nothing more fits.
    assert.equal(await add('d', '448M'), '');
    assert.equal(await h.run('device_add virtio-pmem-pci,id=vp3,memdev=d'), '');
    assert.equal(await add('e', '2M'), '');
    assert.match(await h.run('device_add virtio-pmem-pci,id=vp4,memdev=e'), /not enough space, currently 0x30000000 in use of total space for memory devices 0x30000000/);
    const from = vm.output().length;
    await vm.waitFor(/^TICK \d+ 4$/m, 60_000, from); // the guest kept running, and has the four devices
    h.close();
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

/** Host resources of a process: what a plug/unplug cycle must give back. */
function resources(pid: number): { fds: number; threads: number; maps: string[] } {
  return {
    fds: readdirSync(`/proc/${pid}/fd`).length,
    threads: readdirSync(`/proc/${pid}/task`).length,
    // Mappings by size and name (addresses move): an unplugged device's must be gone.
    maps: readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter(Boolean).map((l) => {
      const [range, perms, , , , name] = l.split(/\s+/);
      const [a, b] = range!.split('-').map((x) => BigInt(`0x${x}`));
      return `${((b! - a!) / 1024n).toString()}K ${perms} ${name ?? ''}`;
    }).sort(),
  };
}

/** Entries of `b` not in `a` (multiset difference), for a readable failure. */
function added(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const x of a) left.set(x, (left.get(x) ?? 0) + 1);
  return b.filter((x) => { const n = left.get(x) ?? 0; if (n > 0) { left.set(x, n - 1); return false; } return true; });
}

test('virtio-pmem plugged and unplugged 20 times: no KVM slot, thread, file descriptor or mapping left behind', async () => {
  const ROUNDS = 20;
  const script = [
    'echo HP-BOOTED',
    `for r in $(seq 1 ${ROUNDS}); do`,
    `  ${waitPath('/dev/pmem0')}; echo "IN $r"`,
    `  ${waitPath('/dev/pmem0', true)}; echo "OUT $r"`,
    'done',
    'sleep 1000',
  ].join('\n');
  const vm = await startVmm({ vmm: 'pmemvm', script, args: (dir) => ['-m', '256M,maxmem=2G', ...hmpArgs(dir)] });
  try {
    await vm.waitFor(/^HP-BOOTED$/m);
    const h = await hmpOf(vm);
    const pid = vm.child.pid!;
    // pmemvm's state dump (SIGUSR1) counts the KVM memory slots in use.
    const kvmSlots = async () => {
      const from = vm.output().length;
      vm.child.kill('SIGUSR1');
      return Number((await vm.waitFor(/^pmemvm: state: kvm: (\d+) memory slots in use$/m, 30_000, from))[1]);
    };
    let first: ReturnType<typeof resources> | null = null;
    let firstSlots = 0;
    for (let r = 1; r <= ROUNDS; r++) {
      assert.equal(await h.run(`object_add memory-backend-file,id=m,share=on,mem-path=${join(vm.dir, 'vp.img')},size=64M`), '');
      assert.equal(await h.run('device_add virtio-pmem-pci,id=vp,memdev=m'), '');
      await vm.waitFor(new RegExp(`^IN ${r}$`, 'm'), 60_000);
      assert.equal(await h.run('device_del vp'), '');
      await vm.qmp.waitEvent('DEVICE_DELETED', (e) => e.data?.['device'] === 'vp', 60_000);
      await vm.waitFor(new RegExp(`^OUT ${r}$`, 'm'), 60_000);
      assert.equal(await h.run('object_del m'), '');
      if (r === 1) { first = resources(pid); firstSlots = await kvmSlots(); }
    }
    const last = resources(pid);
    assert.deepEqual([last.fds, last.threads], [first!.fds, first!.threads], `file descriptors and threads after ${ROUNDS} rounds as after the first`);
    // Mappings of files and kernel objects (backend files, KVM's pages, the mirror pages) must come and go
    // with the device; the allocators' anonymous memory and [heap] change size as they please.
    const named = (m: string[]) => m.filter((x) => !/ (\[[^\]]*\])?$/.test(x));
    assert.deepEqual(added(named(first!.maps), named(last.maps)), [], `named mappings after ${ROUNDS} rounds that were not there after the first`);
    assert.deepEqual(added(named(last.maps), named(first!.maps)), [], `named mappings after the first round that are gone after ${ROUNDS}`);
    assert.equal(await kvmSlots(), firstSlots);
    h.close();
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

test('labels on a hot-added NVDIMM: ndctl init-labels and create-namespace work, and the namespace is there when pmemvm restarts with the device on its command line', async () => {
  const script = [
    'echo HP-BOOTED',
    waitPath('/dev/pmem0'),
    'sleep 1',
    'ndctl disable-region all >/dev/null 2>&1',
    'ndctl init-labels all 2>&1; echo INIT=$?',
    'ndctl enable-region all >/dev/null 2>&1',
    'ndctl create-namespace -r region0 -m fsdax -s 64M >/dev/null; echo FSDAX=$?',
    printBlock('NS1', 'ndctl list -N'),
    'echo HP-DONE',
    'sleep 1000',
  ].join('\n');
  const vm = await startVmm({ vmm: 'pmemvm', script, args: (dir) => ['-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G', ...hmpArgs(dir)] });
  const backend = (file: string) => `memory-backend-file,id=mem2,share=on,mem-path=${file},size=256M`;
  let file = '';
  try {
    await vm.waitFor(/^HP-BOOTED$/m);
    const h = await hmpOf(vm);
    file = join(vm.dir, 'labels.img');
    assert.equal(await h.run(`object_add ${backend(file)}`), '');
    assert.equal(await h.run('device_add nvdimm,id=nvdimm2,memdev=mem2,label-size=128K'), '');
    await vm.waitFor(/^HP-DONE$/m, 120_000);
    const out = vm.output();
    assert.equal(field(out, 'INIT'), '0', out);
    assert.equal(field(out, 'FSDAX'), '0', out);
    const ns = jsonBlock<{ mode: string; size: number; uuid: string }[]>(out, 'NS1');
    assert.equal(ns.length, 1, JSON.stringify(ns));
    assert.equal(ns[0]!.mode, 'fsdax');
    h.close();
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);

    // The same file on the command line: the labels the guest wrote describe the same namespace.
    const again = await startVmm({
      vmm: 'pmemvm', script: `${printBlock('NS2', 'ndctl list -N')}\necho HP-DONE\nsleep 1000`,
      args: ['-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G', '-object', backend(file), '-device', 'nvdimm,id=nvdimm2,memdev=mem2,label-size=128K'],
    });
    try {
      await again.waitFor(/^HP-DONE$/m);
      const ns2 = jsonBlock<{ mode: string; uuid: string }[]>(again.output(), 'NS2');
      assert.deepEqual(ns2.map((n) => [n.mode, n.uuid]), ns.map((n) => [n.mode, n.uuid]));
      await again.qmp.execute('quit');
      assert.equal(await again.exit(), 0);
    } finally {
      await again.close();
    }
  } finally {
    await vm.close();
  }
});

test('reboots keep the configuration: hot-added devices are there after system_reset, an unplugged one stays gone', async () => {
  const script = [
    'b=$(cat /proc/sys/kernel/random/boot_id | cut -c1-8)',
    'echo "HP-BOOT $b"',
    'echo "HP-VIEW $b $(ls /sys/block | grep pmem | sort | tr "\\n" " ")"',
    'while true; do sleep 0.5; echo "HP-VIEW $b $(ls /sys/block | grep pmem | sort | tr "\\n" " ")"; done',
  ].join('\n');
  const vm = await startVmm({ vmm: 'pmemvm', script, args: (dir) => ['-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G', ...hmpArgs(dir)] });
  try {
    await vm.waitFor(/^HP-BOOT /m);
    const h = await hmpOf(vm);
    for (const [id, size] of [['m1', '128M'], ['m2', '64M']] as const) {
      assert.equal(await h.run(`object_add memory-backend-file,id=${id},share=on,mem-path=${join(vm.dir, id)},size=${size}`), '');
    }
    assert.equal(await h.run('device_add nvdimm,id=nv1,memdev=m1'), '');
    assert.equal(await h.run('device_add virtio-pmem-pci,id=vp1,memdev=m2'), '');
    await vm.waitFor(/^HP-VIEW \S+ pmem0 pmem1 $/m);
    const from = vm.output().length;
    await vm.qmp.execute('system_reset');
    await vm.waitFor(/^HP-BOOT /m, 120_000, from);
    await vm.waitFor(/^HP-VIEW \S+ pmem0 pmem1 $/m, 60_000, from);
    assert.equal(await h.run('device_del vp1'), '');
    await vm.qmp.waitEvent('DEVICE_DELETED', (e) => e.data?.['device'] === 'vp1', 60_000);
    const from2 = vm.output().length;
    await vm.qmp.execute('system_reset');
    await vm.waitFor(/^HP-BOOT /m, 120_000, from2);
    await vm.waitFor(/^HP-VIEW \S+ pmem0 $/m, 60_000, from2);
    const devices = await vm.qmp.execute<{ type: string; data: { id: string; hotplugged?: boolean } }[]>('query-memory-devices');
    assert.deepEqual(devices.map((d) => [d.type, d.data.id, d.data.hotplugged]), [['nvdimm', 'nv1', true]]);
    h.close();
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

test('a guest that ignores the eject request keeps its device: no DEVICE_DELETED, a second device_del is told the first is pending, and the device still works', async () => {
  // acpiphp.disable=1: the guest's ACPI PCI hotplug driver is off, so nobody answers the request.
  const script = [
    waitPath('/dev/pmem0'),
    'echo HP-HAVE',
    'read x',
    'printf IGNORED | dd of=/dev/pmem0 bs=1 seek=4096 conv=notrunc,fsync 2>/dev/null; echo WROTE=$?',
    'echo "HP-STILL $(ls /sys/block | grep -c pmem)"',
    'sleep 1000',
  ].join('\n');
  const vm = await startVmm({
    vmm: 'pmemvm', script,
    args: (dir) => ['-m', '512M,maxmem=2G', ...hmpArgs(dir), '-append', `${DEFAULT_APPEND} acpiphp.disable=1`,
      '-object', `memory-backend-file,id=m,share=on,mem-path=${join(dir, 'vp.img')},size=64M`, '-device', 'virtio-pmem-pci,id=vp,memdev=m'],
  });
  try {
    const deleted: unknown[] = [];
    vm.qmp.onEvent((e) => { if (e.event === 'DEVICE_DELETED') deleted.push(e.data); });
    await vm.waitFor(/^HP-HAVE$/m);
    const h = await hmpOf(vm);
    assert.equal(await h.run('device_del vp'), '');
    await new Promise((r) => setTimeout(r, 3000));
    assert.match(await h.run('device_del vp'), /^Error: Device vp is already in the process of unplug\n$/);
    vm.child.stdin!.write('go\n');
    await vm.waitFor(/^HP-STILL 1$/m);
    assert.equal(field(vm.output(), 'WROTE'), '0');
    assert.equal(readAt(join(vm.dir, 'vp.img'), 4096, 7).toString('latin1'), 'IGNORED', 'the device still serves the guest');
    assert.deepEqual(deleted, [], 'no DEVICE_DELETED for a device the guest kept');
    const devices = await vm.qmp.execute<{ data: { id: string } }[]>('query-memory-devices');
    assert.deepEqual(devices.map((d) => d.data.id), ['vp']);
    h.close();
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});
