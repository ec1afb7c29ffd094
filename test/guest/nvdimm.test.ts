// vNVDIMM acceptance on a real guest: the guest's own nfit driver and ndctl
// must see on pmemvm exactly what they see on QEMU for the same command line,
// and the backend file must get the guest's writes (share=on) or not (share=off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readAt, sha256, sparseFile } from '../lib/files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGuest, type GuestResult } from '../lib/guest.js';
import { block, field, jsonBlock, printBlock } from '../lib/guest-json.js';

const MiB = 1 << 20;

interface NdctlDimm { dev: string; id: string; handle: number; phys_id: number; flag_failed_arm?: boolean }
interface NdctlNamespace { dev: string; mode: string; size: number; blockdev?: string; numa_node?: number; target_node?: number }
interface NdctlRegion {
  dev: string; size: number; type: string; persistence_domain?: string; numa_node?: number; target_node?: number;
  mappings: { dimm: string }[]; namespaces?: NdctlNamespace[];
}
interface NdctlList { dimms: NdctlDimm[]; regions: NdctlRegion[] }

/** What the guest prints about its persistent memory, in marked blocks (-v: with numa_node and target_node). */
const SHOW = [
  printBlock('NDCTL', 'ndctl list -RDN -v'),
  printBlock('IOMEM', "grep -i 'persistent memory' /proc/iomem"),
  printBlock('PMEMDEV', 'for b in /sys/block/pmem*; do echo "${b##*/} $(( $(cat $b/size) * 512 )) ro=$(cat $b/ro)"; done'),
  "echo NFITERRORS=$(dmesg | grep -ciE 'nfit.*(fail|error|disabl)|ACPI Error|BUG:|WARNING:')",
  "dmesg | grep -iE 'nfit|nvdimm|ACPI Error' | sed 's/^/DMESG: /'",
  // maxmem makes QEMU's node 0 (an SRAT); without one the nfit driver has no target node and says so.
  "echo NODES=$(cd /sys/devices/system/node && ls -d node* | tr '\\n' ' ')",
  "echo TARGETNODEMSG=$(dmesg | grep -c 'changing target node')",
].join('\n');

function tempDir(): string { return mkdtempSync(join(tmpdir(), 'pmemvm-nvdimm-')); }

const sha = sha256;

/** pmemvm's PMEMVM_DEBUG lines for the guest's read-FIT requests, in order. */
function fitReads(r: GuestResult): { offset: number; status: number; bytes: number; size: number }[] {
  return r.debug.flatMap((line) => {
    const m = /nvdimm _FIT: read at (\d+): status 0x([0-9a-f]+), (\d+) bytes of (\d+)$/.exec(line);
    return m ? [{ offset: Number(m[1]), status: parseInt(m[2]!, 16), bytes: Number(m[3]), size: Number(m[4]) }] : [];
  });
}

const readText = (path: string, offset: number, len: number) => readAt(path, offset, len).toString('latin1');

/** ndctl's view, minus nothing: both VMMs must agree on every field. */
function ndctl(r: GuestResult): NdctlList {
  const list = jsonBlock<NdctlList | null>(r.output, 'NDCTL');
  assert.ok(list && Array.isArray(list.dimms) && Array.isArray(list.regions), `ndctl saw no NVDIMMs:\n${r.output}`);
  return list;
}

function regionOf(list: NdctlList, dimm: string): NdctlRegion {
  const region = list.regions.find((g) => g.mappings.some((m) => m.dimm === dimm));
  assert.ok(region, `no region maps ${dimm}: ${JSON.stringify(list)}`);
  return region;
}

/** Every region and namespace in node 0, the guest's one NUMA node, as under QEMU (whose SRAT puts them there). */
function assertNodeZero(pmemvm: GuestResult, qemu: GuestResult): void {
  for (const r of ndctl(pmemvm).regions) {
    assert.deepEqual([r.numa_node, r.target_node], [0, 0], `${r.dev}: ${JSON.stringify(r)}`);
    for (const n of r.namespaces ?? []) assert.deepEqual([n.numa_node, n.target_node], [0, 0], `${n.dev}: ${JSON.stringify(n)}`);
  }
  assert.equal(field(pmemvm.output, 'NODES'), 'node0');
  assert.equal(field(pmemvm.output, 'TARGETNODEMSG'), '0', pmemvm.output);
  assert.equal(field(qemu.output, 'NODES'), field(pmemvm.output, 'NODES'));
  assert.equal(field(qemu.output, 'TARGETNODEMSG'), '0', qemu.output);
}

async function bothVmms(args: (vmm: 'pmemvm' | 'qemu') => string[], script: string, pmemvmEnv?: Record<string, string>) {
  const pmemvm = await runGuest({ vmm: 'pmemvm', args: args('pmemvm'), script, ...(pmemvmEnv ? { env: pmemvmEnv } : {}) });
  assert.equal(pmemvm.exitCode, 0, `pmemvm failed:\n${pmemvm.output}`);
  assert.equal(pmemvm.guestExit, 0, pmemvm.output);
  const qemu = await runGuest({ vmm: 'qemu', args: args('qemu'), script });
  assert.equal(qemu.guestExit, 0, `QEMU reference run failed:\n${qemu.output}`);
  return { pmemvm, qemu };
}

test('one NVDIMM (share=on): ndctl sees the same DIMM, region and raw namespace as on QEMU; guest writes reach the file', async () => {
  const dir = tempDir();
  try {
    const files = { pmemvm: sparseFile(join(dir, 'pmemvm.img'), 256 * MiB), qemu: sparseFile(join(dir, 'qemu.img'), 256 * MiB) };
    const offset = 5 * MiB + 123;
    const pattern = 'PMEMVM-NVDIMM-PATTERN-0123456789';
    const script = [
      SHOW,
      `printf '${pattern}' | dd of=/dev/pmem0 bs=1 seek=${offset} conv=notrunc,fsync 2>/dev/null; echo WROTE=$?`,
    ].join('\n');
    const { pmemvm, qemu } = await bothVmms((vmm) => [
      '-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G',
      '-object', `memory-backend-file,id=mem0,share=on,mem-path=${files[vmm]},size=256M`,
      '-device', 'nvdimm,id=nv0,memdev=mem0',
    ], script);

    const list = ndctl(pmemvm);
    assert.equal(list.dimms.length, 1);
    const region = regionOf(list, 'nmem0');
    assert.equal(region.size, 256 * MiB);
    assert.equal(region.type, 'pmem');
    assert.equal(region.persistence_domain ?? 'unknown', 'unknown');
    assert.deepEqual(region.namespaces?.map((n) => [n.mode, n.size, n.blockdev]), [['raw', 256 * MiB, 'pmem0']]);
    assert.equal(block(pmemvm.output, 'PMEMDEV').trim(), `pmem0 ${256 * MiB} ro=0`);
    assert.match(block(pmemvm.output, 'IOMEM'), /^100000000-10fffffff : Persistent Memory$/m);
    assert.equal(field(pmemvm.output, 'NFITERRORS'), '0', pmemvm.output);
    // The start-up report says plainly that a page-cache file is not crash-safe.
    assert.match(pmemvm.output, /^pmemvm: nv0: mem0 \(.*pmemvm\.img\) is not crash-safe \[page-cache\]: /m);

    // Differential: QEMU's guest sees exactly the same.
    assert.deepEqual(list, ndctl(qemu));
    assertNodeZero(pmemvm, qemu);
    assert.equal(block(pmemvm.output, 'IOMEM'), block(qemu.output, 'IOMEM'));
    assert.equal(block(pmemvm.output, 'PMEMDEV'), block(qemu.output, 'PMEMDEV'));

    // share=on: the bytes the guest wrote at offset X of /dev/pmem0 are at offset X of the file.
    assert.equal(field(pmemvm.output, 'WROTE'), '0');
    assert.equal(readText(files.pmemvm, offset, pattern.length), pattern);
    assert.equal(readText(files.qemu, offset, pattern.length), pattern);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nvdimm-persistence=cpu, and an unarmed read-only NVDIMM next to an armed one: same view as QEMU; writes to the unarmed one fail', async () => {
  const dir = tempDir();
  try {
    const a = sparseFile(join(dir, 'a.img'), 128 * MiB);
    const ro = join(dir, 'ro.img');
    writeFileSync(ro, Buffer.alloc(64 * MiB, 0x5a));
    const before = sha(ro);
    const script = [
      SHOW,
      // The read-only region refuses the write; the armed one takes it.
      'dd if=/dev/zero of=/dev/pmem1 bs=4096 count=1 conv=fsync 2>/dev/null; echo WRITE_RO=$?',
      'dd if=/dev/zero of=/dev/pmem0 bs=4096 count=1 conv=fsync 2>/dev/null; echo WRITE_RW=$?',
      'echo RO_BYTE=$(dd if=/dev/pmem1 bs=1 count=1 2>/dev/null | od -An -tx1 | tr -d " ")',
      // The ACPI devices under the NVDIMM root device: name and _ADR.
      printBlock('NVDEVS', 'for d in /sys/bus/acpi/devices/ACPI0012:00/device:*; do echo "$(cat $d/path | sed "s/.*\\.//") $(cat $d/adr)"; done | sort'),
    ].join('\n');
    const { pmemvm, qemu } = await bothVmms(() => [
      '-machine', 'pc,nvdimm=on,nvdimm-persistence=cpu', '-m', '256M,slots=4,maxmem=2G',
      '-object', `memory-backend-file,id=m0,share=on,mem-path=${a},size=128M`,
      '-object', `memory-backend-file,id=m1,share=on,readonly=on,mem-path=${ro},size=64M`,
      '-device', 'nvdimm,id=nv0,memdev=m0',
      '-device', 'nvdimm,id=nv1,memdev=m1,unarmed=on',
    ], script, { PMEMVM_DEBUG: '1' });

    // Linux's nfit driver took the NVDIMMs from _FIT (it prefers it to the NFIT):
    // it read the whole FIT (2 x (SPA 56 + memdev 48 + DCR 80) + capabilities 16
    // bytes) from offset 0 up to an empty chunk at its end, with no error.
    const reads = fitReads(pmemvm);
    const FIT_SIZE = 2 * (56 + 48 + 80) + 16;
    assert.ok(reads.length >= 2, `the guest never read the FIT through _FIT:\n${pmemvm.debug.join('\n')}`);
    assert.deepEqual(reads.slice(0, 2), [
      { offset: 0, status: 0, bytes: FIT_SIZE, size: FIT_SIZE },
      { offset: FIT_SIZE, status: 0, bytes: 0, size: FIT_SIZE },
    ]);
    // No AML error in _FIT; the one nfit "error" is the unarmed DIMM's flag, on QEMU too.
    assert.doesNotMatch(pmemvm.output, /ACPI Error|_FIT/);
    assert.equal(field(pmemvm.output, 'NFITERRORS'), field(qemu.output, 'NFITERRORS'), pmemvm.output);
    // -m slots=4: a child device per slot, two of them empty, as on QEMU.
    assert.equal(block(pmemvm.output, 'NVDEVS'), block(qemu.output, 'NVDEVS'));
    assert.match(block(pmemvm.output, 'NVDEVS').trim(), /^NV00 0x0*1\nNV01 0x0*2\nNV02 0x0*3\nNV03 0x0*4$/);

    const list = ndctl(pmemvm);
    assert.equal(list.dimms.length, 2);
    const unarmed = list.dimms.find((d) => d.flag_failed_arm);
    assert.ok(unarmed, `no DIMM shows flag_failed_arm: ${JSON.stringify(list.dimms)}`);
    assert.equal(list.dimms.filter((d) => d.flag_failed_arm).length, 1);
    assert.equal(regionOf(list, unarmed.dev).size, 64 * MiB);
    for (const r of list.regions) assert.equal(r.persistence_domain, 'cpu_cache');
    assert.match(block(pmemvm.output, 'PMEMDEV'), /^pmem1 67108864 ro=1$/m);
    assert.notEqual(field(pmemvm.output, 'WRITE_RO'), '0', 'a write to the unarmed NVDIMM succeeded');
    assert.equal(field(pmemvm.output, 'WRITE_RW'), '0');
    assert.equal(field(pmemvm.output, 'RO_BYTE'), '5a');
    assert.equal(sha(ro), before, 'the read-only backend changed');

    assert.deepEqual(list, ndctl(qemu));
    assertNodeZero(pmemvm, qemu);
    assert.equal(block(pmemvm.output, 'IOMEM'), block(qemu.output, 'IOMEM'));
    assert.equal(block(pmemvm.output, 'PMEMDEV'), block(qemu.output, 'PMEMDEV'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nvdimm-persistence=mem-ctrl with share=off: memory_controller domain as on QEMU; guest writes never reach the file', async () => {
  const dir = tempDir();
  try {
    const img = join(dir, 'private.img');
    writeFileSync(img, Buffer.alloc(32 * MiB, 0xa5));
    const before = sha(img);
    const script = [
      SHOW,
      'dd if=/dev/zero of=/dev/pmem0 bs=1M count=4 conv=fsync 2>/dev/null; echo WROTE=$?',
      'echo BYTE=$(dd if=/dev/pmem0 bs=1 count=1 2>/dev/null | od -An -tx1 | tr -d " ")',
    ].join('\n');
    const { pmemvm, qemu } = await bothVmms(() => [
      '-machine', 'pc,nvdimm=on,nvdimm-persistence=mem-ctrl', '-m', '256M,slots=1,maxmem=1G',
      '-object', `memory-backend-file,id=m0,share=off,mem-path=${img},size=32M`,
      '-device', 'nvdimm,id=nv0,memdev=m0',
    ], script);

    const list = ndctl(pmemvm);
    assert.equal(regionOf(list, 'nmem0').persistence_domain, 'memory_controller');
    assert.equal(regionOf(list, 'nmem0').size, 32 * MiB);
    // The guest sees its own write (private copy) ...
    assert.equal(field(pmemvm.output, 'WROTE'), '0');
    assert.equal(field(pmemvm.output, 'BYTE'), '00');
    // ... which never reaches the file.
    assert.equal(sha(img), before, 'share=off: the guest changed the backend file');
    assert.match(pmemvm.output, /^pmemvm: nv0: m0 \(.*\) is not crash-safe \[private\]: guest writes are discarded \(share=off\)$/m);
    assert.deepEqual(list, ndctl(qemu));
    assertNodeZero(pmemvm, qemu);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bare "-machine pc,nvdimm" of docs/nvdimm.txt works (QEMU 7.2 itself wants nvdimm=on)', async () => {
  const r = await runGuest({
    vmm: 'pmemvm',
    args: ['-machine', 'pc,nvdimm', '-m', '256M,slots=1,maxmem=1G',
      '-object', 'memory-backend-ram,id=m0,size=16M', '-device', 'nvdimm,memdev=m0'],
    script: SHOW,
  });
  assert.equal(r.guestExit, 0, r.output);
  assert.equal(regionOf(ndctl(r), 'nmem0').size, 16 * MiB);
  assert.match(r.output, /^pmemvm: nvdimm0: m0 is not crash-safe \[ram\]: /m);
});
