// NVDIMM labels on a real guest: ndctl initialises the label area through the
// guest's ACPI label methods, creates fsdax, devdax and sector namespaces, and
// they are still there after a guest reboot and after pmemvm starts anew on
// the same file. QEMU, same test host, same ndctl sequence: same namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readAt, sparseFile } from '../lib/files.js';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGuest } from '../lib/guest.js';
import { field, jsonBlock, printBlock } from '../lib/guest-json.js';
import { ringDoorbellElf } from '../lib/ring-doorbell-elf.js';
import { DSM_DOORBELL_PORT, DSM_PAGE } from '../../src/acpi/nvdimm-dsm-abi.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const MiB = 1 << 20;
const GiB = 1024 * MiB;
const LABEL = 128 * 1024;

// ndctl shows the label's (namespace) uuid as raw_uuid when the namespace has an info block
// (fsdax, devdax, sector), whose own uuid it shows as uuid.
interface Namespace { dev: string; mode: string; size: number; uuid?: string; raw_uuid?: string; sector_size?: number }

function namespaces(output: string, tag: string): Namespace[] {
  const j = jsonBlock<Namespace | Namespace[] | null>(output, tag);
  const list = j === null ? [] : Array.isArray(j) ? j : [j];
  return list.sort((a, b) => a.mode.localeCompare(b.mode));
}
const shape = (ns: Namespace[]) => ns.map((n) => [n.mode, n.size]);
const identity = (ns: Namespace[]) => ns.map((n) => [n.uuid, n.mode, n.size]);

const PMEMVM = pmemvmNodeArgs();
const img = (args: string[]) => spawnSync(process.execPath, [...PMEMVM, 'img', ...args], { encoding: 'utf8' });

const tail = (path: string, size: number, len: number) => readAt(path, size - len, len);

// First boot: label the DIMM, make one namespace of each mode, reboot.
// Second boot (labels found): list them and power off.
const CREATE = [
  printBlock('REGION', 'ndctl list -R'),
  "echo ACPIERRORS=$(dmesg | grep -ciE 'ACPI Error|ACPI BIOS Error|AE_[A-Z_]+|nfit.*fail')",
  "dmesg | grep -iE 'ACPI Error|AE_|nfit' | sed 's/^/DMESG: /'",
  'if ndctl list -N 2>/dev/null | grep -q fsdax; then',
  `  ${printBlock('NS2', 'ndctl list -N')}`,
  'else',
  '  ndctl disable-region all >/dev/null 2>&1',
  '  ndctl init-labels all 2>&1; echo INIT=$?',
  '  ndctl enable-region all >/dev/null 2>&1',
  '  ndctl create-namespace -r region0 -m fsdax -s 256M >/dev/null; echo FSDAX=$?',
  '  ndctl create-namespace -r region0 -m devdax -s 256M >/dev/null; echo DEVDAX=$?',
  '  ndctl create-namespace -r region0 -m sector -s 128M >/dev/null; echo SECTOR=$?',
  `  ${printBlock('NS1', 'ndctl list -N')}`,
  // The namespace (label) uuids, as the kernel read them from the labels.
  '  for n in /sys/bus/nd/devices/namespace*; do u=$(cat $n/uuid 2>/dev/null); [ -n "$u" ] && echo "LABEL-UUID $u"; done',
  '  reboot -f',
  'fi',
].join('\n');

const args = (file: string) => ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=4G',
  '-object', `memory-backend-file,id=mem0,share=on,mem-path=${file},size=1G`,
  '-device', 'nvdimm,id=nv0,memdev=mem0,label-size=128K'];

test('label-size=128K: namespaces of every mode survive a guest reboot and a pmemvm restart; same as QEMU', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-labels-'));
  try {
    const file = sparseFile(join(dir, 'pmemvm.img'), GiB);
    const first = await runGuest({ vmm: 'pmemvm', args: args(file), script: CREATE, timeoutMs: 240_000 });
    assert.equal(first.exitCode, 0, first.output);
    assert.equal(first.guestExit, 0, first.output);
    const region = jsonBlock<{ size: number } | { size: number }[]>(first.output, 'REGION');
    assert.equal((Array.isArray(region) ? region[0]! : region).size, GiB - LABEL, 'region = backend minus the label area');
    for (const k of ['INIT', 'FSDAX', 'DEVDAX', 'SECTOR']) assert.equal(field(first.output, k), '0', `${k}:\n${first.output}`);
    // The nfit driver probed the root and DIMM _DSMs and the label methods without an AML error.
    assert.equal(field(first.output, 'ACPIERRORS'), '0', first.output);
    const created = namespaces(first.output, 'NS1');
    assert.deepEqual(created.map((n) => n.mode), ['devdax', 'fsdax', 'sector']);
    assert.equal(created.filter((n) => n.uuid).length, 3, 'labelled namespaces have uuids');
    // After the guest's reboot (same pmemvm process):
    assert.deepEqual(identity(namespaces(first.output, 'NS2')), identity(created));

    // The labels are in the last 128K of the file: it starts with a namespace index block.
    const area = tail(file, GiB, LABEL);
    assert.equal(area.subarray(0, 16).toString('latin1'), 'NAMESPACE_INDEX\0');
    if (process.env.PMEMVM_SAVE_LABEL_AREA) writeFileSync(process.env.PMEMVM_SAVE_LABEL_AREA, area);
    // pmemvm img reads them back offline, as the guest wrote them.
    const info = img(['info', file, '--json']);
    assert.equal(info.status, 0, info.stderr);
    const decoded = JSON.parse(info.stdout) as { state: string; labels: { uuid: string; valid: boolean; mode: string }[] };
    assert.equal(decoded.state, 'labels');
    const labelUuids = [...first.output.matchAll(/^LABEL-UUID (\S+)$/gm)].map((m) => m[1]!).sort();
    assert.equal(labelUuids.length, 3, first.output);
    assert.deepEqual(decoded.labels.map((l) => l.uuid).sort(), labelUuids);
    assert.ok(decoded.labels.every((l) => l.valid), info.stdout);
    const check = img(['check', file]);
    assert.equal(check.status, 0, check.stdout);

    // pmemvm exits and starts anew on the same file.
    const again = await runGuest({ vmm: 'pmemvm', args: args(file), script: printBlock('NS3', 'ndctl list -N') });
    assert.equal(again.guestExit, 0, again.output);
    assert.deepEqual(identity(namespaces(again.output, 'NS3')), identity(created));

    // QEMU with the same command line and ndctl sequence makes the same namespaces.
    const qfile = sparseFile(join(dir, 'qemu.img'), GiB);
    const q = await runGuest({ vmm: 'qemu', args: args(qfile), script: CREATE, timeoutMs: 240_000 });
    assert.deepEqual(shape(namespaces(q.output, 'NS1')), shape(created), `QEMU:\n${q.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hostile guest that drives the label doorbell itself gets error statuses; pmemvm keeps running and the file is untouched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-hostile-'));
  try {
    const file = sparseFile(join(dir, 'hostile.img'), 64 * MiB);
    // Fill the shared page with devmem, ring with a tiny static program (no kernel checks in between).
    const script = [
      'req() {',
      '  devmem 0xfe000 32 $1; devmem 0xfe004 32 $2; devmem 0xfe008 32 $3; devmem 0xfe00c 32 $4; devmem 0xfe010 32 $5',
      '  /ring',
      '  echo "ANSWER $6 len=$(devmem 0xfe000 32) status=$(devmem 0xfe004 32)"',
      '}',
      'req 1 1 5 0x1fff0 0x100 read-past-end',
      'req 1 1 5 0xffffff00 0x200 read-wrapping',
      'req 1 1 5 0 0xffffffff read-huge',
      'req 1 1 6 0x20000 4 write-past-end',
      'req 1 1 6 0 0xffffffff write-huge',
      'req 0x77 1 5 0 8 unknown-handle',
      'req 1 9 5 0 8 bad-revision',
      'req 1 1 4 0 0 label-size',
      'echo STILL-ALIVE',
      printBlock('DIMMS', 'ndctl list -D'),
    ].join('\n');
    const r = await runGuest({
      vmm: 'pmemvm',
      args: ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=1,maxmem=1G',
        '-object', `memory-backend-file,id=mem0,share=on,mem-path=${file},size=64M`,
        '-device', 'nvdimm,id=nv0,memdev=mem0,label-size=128K'],
      script,
      extraFiles: [{ name: 'ring', data: ringDoorbellElf(DSM_DOORBELL_PORT, DSM_PAGE), mode: 0o755 }],
    });
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(r.guestExit, 0, r.output);
    const answers = new Map([...r.output.matchAll(/^ANSWER (\S+) len=0x([0-9A-Fa-f]+) status=0x([0-9A-Fa-f]+)$/gm)]
      .map((m) => [m[1]!, { len: parseInt(m[2]!, 16), status: parseInt(m[3]!, 16) }]));
    const expect: [string, number][] = [
      ['read-past-end', 3], ['read-wrapping', 3], ['read-huge', 3], ['write-past-end', 3], ['write-huge', 3],
      ['unknown-handle', 2], ['bad-revision', 1], ['label-size', 0],
    ];
    for (const [what, status] of expect) assert.equal(answers.get(what)?.status, status, `${what}:\n${r.output}`);
    assert.equal(answers.get('label-size')?.len, 16);
    assert.match(r.output, /^STILL-ALIVE$/m);
    assert.ok(tail(file, 64 * MiB, LABEL).every((b) => b === 0), 'a refused request wrote into the label area');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Boot once, let ndctl write a fresh label area, and return the host's msync calls (strace) before pmemvm's exit flush. */
async function initLabels(file: string, pmem: boolean, dir: string): Promise<{ msyncs: number; out: string }> {
  const script = [
    'ndctl disable-region all >/dev/null 2>&1',
    'ndctl init-labels all 2>&1; echo INIT=$?',
    'ndctl enable-region all >/dev/null 2>&1',
  ].join('\n');
  const trace = join(dir, `strace-${pmem}.txt`);
  const r = await runGuest({
    vmm: 'pmemvm', script, wrap: ['strace', '-f', '-qq', '--seccomp-bpf', '-e', 'trace=msync', '-o', trace],
    args: ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=1,maxmem=1G',
      '-object', `memory-backend-file,id=mem0,share=on,mem-path=${file},size=64M${pmem ? ',pmem=on' : ''}`,
      '-device', 'nvdimm,id=nv0,memdev=mem0,label-size=128K'],
    timeoutMs: 180_000, dumpAfterMs: 170_000,
  });
  const out = r.output;
  assert.equal(r.exitCode, 0, out);
  assert.equal(field(out, 'INIT'), '0', out);
  const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('msync('));
  // The last msync is pmemvm's write-back of the whole backend at exit (its length is the backend's).
  return { msyncs: calls.filter((l) => !l.includes(`, ${64 * MiB}, `)).length, out };
}

test('label writes: only the label area changes, and with pmem=on each one is flushed (msync) before _LSW returns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-lsw-'));
  try {
    const plain = await initLabels(sparseFile(join(dir, 'plain.img'), 64 * MiB), false, dir);
    const file = sparseFile(join(dir, 'pmem.img'), 64 * MiB);
    const durable = await initLabels(file, true, dir);
    assert.equal(plain.msyncs, 0, 'without pmem=on, label writes stay in the page cache until exit');
    assert.ok(durable.msyncs >= 2, `pmem=on: expected an msync per label write (two index blocks at least), saw ${durable.msyncs}`);
    // Every byte ndctl wrote is inside the last 128K; the rest of the file is untouched (still zero).
    const data = readFileSync(file);
    const firstNonZero = data.findIndex((b) => b !== 0);
    assert.ok(firstNonZero >= 64 * MiB - LABEL, `a label write landed at 0x${firstNonZero.toString(16)}, outside the label area`);
    const check = img(['check', file]);
    assert.equal(check.status, 0, check.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
