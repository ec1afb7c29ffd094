// NVDIMM backends on real DAX media (the test host's own NVDIMMs, set up as QEMU's
// docs/nvdimm.txt "Backend File Setup Example" does): device DAX with align=2M, a DAX file
// with pmem=on,share=on mapped MAP_SYNC, pmem=on on a file that is not DAX (QEMU's fallback
// and warning), and device DAX command lines that QEMU and pmemvm refuse. The guest sees the
// same NVDIMM as on a plain file, and each start-up verdict names the way the backend is mapped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAt, sparseFile } from '../lib/files.js';
import { runGuest, type GuestResult } from '../lib/guest.js';
import { field, jsonBlock, printBlock } from '../lib/guest-json.js';
import { hostPmem } from '../lib/host-pmem.js';
import { devdaxDigest, devdaxRead } from '../lib/devdax.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const MiB = 1 << 20;
const PMEMVM = pmemvmNodeArgs();
const pmem = hostPmem();
const skip = typeof pmem === 'string' ? pmem : false;
const media = () => pmem as Exclude<typeof pmem, string>;

const SIZE = '256M';
const nvArgs = (backend: string, maxmem = '2G') => ['-machine', 'pc,nvdimm=on', '-m', `256M,slots=2,maxmem=${maxmem}`,
  '-object', `memory-backend-file,id=m0,share=on,${backend}`, '-device', 'nvdimm,id=nv0,memdev=m0'];

/** A token the guest writes at 1 MiB into its raw /dev/pmem0 (= 1 MiB into the backend). */
const TOKEN_AT = MiB;
const writeToken = (token: string) =>
  `printf %s ${token} | dd of=/dev/pmem0 bs=4096 seek=${TOKEN_AT / 4096} conv=sync,fsync 2>/dev/null; echo WROTE=$?`;
const readToken = `echo TOKEN=$(dd if=/dev/pmem0 bs=4096 skip=${TOKEN_AT / 4096} count=1 2>/dev/null | tr -d '\\000')`;

const SHOW = [
  printBlock('NDCTL', 'ndctl list -RDN -v'),
  printBlock('PMEMDEV', 'for b in /sys/block/pmem*; do echo "${b##*/} $(( $(cat $b/size) * 512 ))"; done'),
  "echo BADLINES=$(dmesg | grep -ciE 'nfit.*(fail|error)|ACPI Error|BUG:|WARNING:')",
].join('\n');

function ndctlView(r: GuestResult): unknown {
  assert.equal(r.guestExit, 0, r.output);
  assert.equal(field(r.output, 'BADLINES'), '0', r.output);
  const v = jsonBlock(r.output, 'NDCTL');
  assert.ok(v, `the guest's ndctl saw no NVDIMM:\n${r.output}`);
  return v;
}

/** VmFlags of the mapping of `path` in /proc/PID/smaps ("sf": VM_SYNC, mapped with MAP_SYNC). */
function vmFlags(pid: number, path: string): string[] {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const entries = smaps.split(/^(?=[0-9a-f]+-[0-9a-f]+ )/m);
  const entry = entries.find((e) => e.split('\n')[0]!.endsWith(` ${path}`));
  assert.ok(entry, `no mapping of ${path} in /proc/${pid}/smaps`);
  return (/^VmFlags:(.*)$/m.exec(entry)?.[1] ?? '').trim().split(/\s+/);
}

/** QEMU 7.2 set up with the same objects and stopped at once (-S): its stderr and status. */
function qemuStartup(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('qemu-system-x86_64', ['-accel', 'tcg', '-display', 'none', '-nodefaults', '-S', '-qmp', 'stdio', ...args],
    { input: '{"execute":"qmp_capabilities"}{"execute":"quit"}\n', encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

function durabilityReport(args: string[]) {
  return spawnSync(process.execPath, [...PMEMVM, ...args, '-durability-report'], { encoding: 'utf8' });
}

test('device DAX (mem-path=/dev/dax0.0,align=2M): crash-safe [devdax]; the guest sees the NVDIMM it sees on a file; QEMU\'s guest sees the same and what pmemvm\'s guest wrote', { skip }, async () => {
  const { devdax } = media();
  const token = `devdax-${process.pid}-${Date.now()}`;
  const args = nvArgs(`mem-path=${devdax},size=${SIZE},align=2M`);
  const r = await runGuest({ vmm: 'pmemvm', args, script: `${SHOW}\n${writeToken(token)}` });
  assert.equal(r.exitCode, 0, r.output);
  const view = ndctlView(r);
  assert.equal(field(r.output, 'WROTE'), '0', r.output);
  assert.match(r.output, new RegExp(`^pmemvm: nv0: m0 \\(${devdax}\\) is crash-safe \\[devdax\\]: device DAX`, 'm'));

  // The same NVDIMM on a sparse file: the guest cannot tell them apart.
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-dax-'));
  try {
    const file = sparseFile(join(dir, 'f.img'), 256 * MiB);
    const f = await runGuest({ vmm: 'pmemvm', args: nvArgs(`mem-path=${file},size=${SIZE}`), script: SHOW });
    assert.deepEqual(ndctlView(f), view);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // QEMU on the same device: the same view, and pmemvm's guest's write is on the device.
  const q = await runGuest({ vmm: 'qemu', args, script: `${SHOW}\n${readToken}` });
  assert.deepEqual(ndctlView(q), view);
  assert.equal(field(q.output, 'TOKEN'), token, q.output);
});

test('virtio-pmem on device DAX: crash-safe [devdax]; the guest\'s flushes succeed (fsync of a device DAX is EINVAL: the host has nothing to sync) and its write is on the device', { skip }, async () => {
  const { devdax } = media();
  const token = `vpdax-${process.pid}-${Date.now()}`;
  const r = await runGuest({
    vmm: 'pmemvm',
    args: ['-m', '256M,maxmem=2G', '-object', `memory-backend-file,id=m0,share=on,mem-path=${devdax},size=${SIZE},align=2M`, '-device', 'virtio-pmem-pci,id=vp0,memdev=m0'],
    script: `${writeToken(token)}\nsync\necho IOERRORS=$(dmesg | grep -ciE 'I/O error|virtio.pmem.*(fail|reset)')`,
  });
  assert.equal(r.exitCode, 0, r.output);
  assert.equal(r.guestExit, 0, r.output);
  assert.match(r.output, new RegExp(`^pmemvm: vp0: m0 \\(${devdax}\\) is crash-safe \\[devdax\\]: device DAX`, 'm'));
  assert.equal(field(r.output, 'WROTE'), '0', `the guest's write or its flush failed:\n${r.output}`);
  assert.equal(field(r.output, 'IOERRORS'), '0', r.output);
  assert.equal(devdaxRead(devdax, 2 * MiB).toString('latin1', TOKEN_AT, TOKEN_AT + token.length), token);
});

test('device DAX refused with a too-small align or a size that is not a multiple of its alignment, as QEMU refuses it; the device is untouched', { skip }, () => {
  const { devdax } = media();
  const before = devdaxDigest(devdax, 8 * MiB);
  const cases: [string, string, RegExp][] = [
    ['no align', `mem-path=${devdax},size=${SIZE}`, /device DAX .* maps only in 2 MiB units but the backend has no align=; add align=2M$/],
    ['align=4K', `mem-path=${devdax},size=${SIZE},align=4K`, /maps only in 2 MiB units but align=4K; add align=2M$/],
    ['size not a multiple of 2M', `mem-path=${devdax},size=255M,align=2M`, /size=255 MiB is not a multiple of align=2 MiB/],
    ['size not a multiple of 2M, no align', `mem-path=${devdax},size=257M`, /add align=2M$/],
    ['size over the device', `mem-path=${devdax},size=4G,align=2M`, /is larger than device DAX/],
  ];
  for (const [what, backend, message] of cases) {
    const args = nvArgs(backend, '8G');
    const r = durabilityReport(args);
    assert.equal(r.status, 1, `${what}: pmemvm accepted it:\n${r.stdout}${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${what}: want one line:\n${r.stderr}`);
    assert.match(lines[0]!, /^pmemvm: memory backend 'm0': /, what);
    assert.match(lines[0]!, message, what);
    const q = qemuStartup(args);
    assert.equal(q.status, 1, `${what}: QEMU accepted it:\n${q.stderr}`);
  }
  assert.equal(devdaxDigest(devdax, 8 * MiB), before, 'a refused command line changed the device');
});

test('DAX file with pmem=on,share=on: mapped MAP_SYNC (VmFlags sf in /proc/PID/smaps), crash-safe [fsdax-map-sync], the guest\'s writes are in the file; QEMU takes it without a warning', { skip }, async () => {
  const { daxDir } = media();
  const file = join(daxDir, `nv-${process.pid}.img`);
  const token = `fsdax-${process.pid}-${Date.now()}`;
  try {
    let flags: string[] = [];
    const r = await runGuest({
      vmm: 'pmemvm', args: nvArgs(`mem-path=${file},size=${SIZE},pmem=on`),
      script: `read go\n${SHOW}\n${writeToken(token)}`,
      input: (pid) => { flags = vmFlags(pid, file); return 'go\n'; },
    });
    assert.equal(r.exitCode, 0, r.output);
    ndctlView(r);
    assert.ok(flags.includes('sf'), `the backend is not mapped MAP_SYNC; VmFlags: ${flags.join(' ')}`);
    assert.ok(flags.includes('sh'), `the backend is not mapped shared; VmFlags: ${flags.join(' ')}`);
    assert.doesNotMatch(r.output, /requesting persistence across crashes/);
    assert.match(r.output, /^pmemvm: nv0: m0 \(.*\) is crash-safe \[fsdax-map-sync\]: file on a DAX filesystem \(ext4\) mapped with MAP_SYNC/m);
    assert.equal(field(r.output, 'WROTE'), '0', r.output);
    assert.equal(readAt(file, TOKEN_AT, token.length).toString('latin1'), token);

    const q = qemuStartup(nvArgs(`mem-path=${file},size=${SIZE},pmem=on`));
    assert.equal(q.status, 0, q.stderr);
    assert.doesNotMatch(q.stderr, /persistence|DAX/, q.stderr);
  } finally {
    rmSync(file, { force: true });
  }
});

test('pmem=on on a file that is not DAX: QEMU\'s warning and fallback, not crash-safe [page-cache] naming the reason', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-nodax-'));
  try {
    const file = sparseFile(join(dir, 'p.img'), 256 * MiB);
    const args = nvArgs(`mem-path=${file},size=${SIZE},pmem=on`);
    const r = durabilityReport(args);
    assert.equal(r.status, 0, r.stderr);
    const warning = `requesting persistence across crashes for backend file ${file} failed. Proceeding without persistence, data might become corrupted in case of host crash.`;
    assert.equal(r.stderr, `pmemvm: warning: ${warning}\n`);
    const [d] = JSON.parse(r.stdout) as { crashSafe: boolean; mode: string; reason: string }[];
    assert.equal(d!.crashSafe, false);
    assert.equal(d!.mode, 'page-cache');
    assert.match(d!.reason, /^pmem=on but the kernel refused MAP_SYNC \(its filesystem is not mounted with -o dax\)/);
    const q = qemuStartup(args);
    assert.equal(q.status, 0, q.stderr);
    assert.ok(q.stderr.includes(warning), q.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
