// NVDIMM flush hints (-device nvdimm,flush-hint=on) on a real guest: the
// guest's nfit driver finds the hint (its region's deep_flush is 1 and
// writable), and every flush it makes (fsync on DAX ext4, deep_flush) is an
// fdatasync of the backend on the host before it returns (counted with strace,
// from vCPU 0 and from a worker vCPU). Without the property the view is QEMU's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sparseFile } from '../lib/files.js';
import { runGuest } from '../lib/guest.js';
import { field, jsonBlock, printBlock } from '../lib/guest-json.js';

const MiB = 1 << 20;
const REGION = '$(ls -d /sys/bus/nd/devices/region* | head -1)';

const nvdimmArgs = (file: string, hint: boolean, smp = 1) => ['-machine', 'pc,nvdimm=on', '-smp', String(smp), '-m', '256M,slots=2,maxmem=1G',
  '-object', `memory-backend-file,id=mem1,share=on,mem-path=${file},size=128M`,
  '-device', `nvdimm,memdev=mem1,id=nv1${hint ? ',flush-hint=on' : ''}`];

const SHOW = [
  printBlock('NDCTL', 'ndctl list -RDN'),
  `echo DEEPFLUSH=$(cat ${REGION}/deep_flush) MODE=$(stat -c %a ${REGION}/deep_flush)`,
  "echo HINTPAGE=$(grep -c 'fede0000-fede0fff' /proc/iomem)",
  "echo BADLINES=$(dmesg | grep -ciE 'nfit.*(fail|error)|failed to request|ACPI Error|BUG:|WARNING:')",
].join('\n');

test('flush-hint=on: the region has a flush hint (deep_flush 1, writable, a write succeeds); off: the view is QEMU\'s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-hint-'));
  try {
    const script = [SHOW, `echo 1 > ${REGION}/deep_flush; echo DEEPWRITE=$?`].join('\n');
    const on = await runGuest({ vmm: 'pmemvm', args: nvdimmArgs(sparseFile(join(dir, 'on.img'), 128 * MiB), true), script });
    assert.equal(on.guestExit, 0, on.output);
    assert.equal(field(on.output, 'DEEPFLUSH'), '1 MODE=644', on.output);
    assert.equal(field(on.output, 'DEEPWRITE'), '0', on.output);
    assert.equal(field(on.output, 'HINTPAGE'), '1', on.output); // the guest claimed the hint page
    assert.equal(field(on.output, 'BADLINES'), '0', on.output);
    assert.match(on.output, /^pmemvm: nv1: mem1 \(.*on\.img\) is crash-safe \[page-cache\]: what the guest flushes \(fsync, fdatasync, msync, O_DSYNC writes, flushes of \/dev\/pmemN, deep_flush\)/m);

    const off = await runGuest({ vmm: 'pmemvm', args: nvdimmArgs(sparseFile(join(dir, 'off.img'), 128 * MiB), false), script });
    const qemu = await runGuest({ vmm: 'qemu', args: nvdimmArgs(sparseFile(join(dir, 'q.img'), 128 * MiB), false), script });
    assert.equal(off.guestExit, 0, off.output);
    assert.equal(qemu.guestExit, 0, qemu.output);
    // No hint: deep_flush reads 0 and is read-only, on both VMMs.
    assert.equal(field(off.output, 'DEEPFLUSH'), '0 MODE=444', off.output);
    assert.equal(field(qemu.output, 'DEEPFLUSH'), field(off.output, 'DEEPFLUSH'));
    assert.equal(field(off.output, 'HINTPAGE'), '0');
    assert.deepEqual(jsonBlock(off.output, 'NDCTL'), jsonBlock(qemu.output, 'NDCTL'));
    // The hint changes nothing else ndctl shows.
    assert.deepEqual(jsonBlock(on.output, 'NDCTL'), jsonBlock(off.output, 'NDCTL'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flush-hint=on: each guest fsync on DAX ext4 and each deep_flush write is at least one host fdatasync of the backend, from either vCPU (strace)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-hint-'));
  try {
    const FSYNCS = 20, DEEP = 10;
    // Markers on the console split the trace in phases; the sleeps keep each marker's
    // console write apart from the flushes around it.
    const script = [
      // DAX needs an fsdax namespace (a raw one has no struct pages); the host's journalled ext4 goes into it.
      'ndctl create-namespace -f -e namespace0.0 -m fsdax -M mem >/dev/null; echo FSDAX=$?',
      'dd if=/ext4.img of=/dev/pmem0 bs=1M 2>/dev/null; echo COPY=$?; rm /ext4.img',
      'modprobe ext4; mkdir -p /mnt; mount -t ext4 -o dax /dev/pmem0 /mnt; echo MOUNT=$?',
      "echo DAXMOUNT=$(grep -c ' /mnt ext4 .*dax' /proc/mounts)",
      'dd if=/dev/zero of=/mnt/f bs=4096 count=64 2>/dev/null; sync; sleep 1',
      'echo MARK-FSYNC; sleep 1',
      // Alternate CPUs: vCPU 0 flushes through the main thread's pool, vCPU 1 in its worker.
      `i=0; while [ $i -lt ${FSYNCS} ]; do printf "REC%05d" $i | taskset $((1 + i % 2)) dd of=/mnt/f bs=4096 seek=$i conv=notrunc,fsync 2>/dev/null || echo FAIL $i; i=$((i+1)); done`,
      'echo MARK-DEEP; sleep 1',
      `i=0; while [ $i -lt ${DEEP} ]; do taskset $((1 + i % 2)) sh -c "echo 1 > ${REGION}/deep_flush" || echo FAIL deep $i; i=$((i+1)); done`,
      'echo MARK-END; sleep 1',
      'umount /mnt; mount -t ext4 -o dax /dev/pmem0 /mnt && echo READBACK=$(dd if=/mnt/f bs=4096 skip=7 count=1 2>/dev/null | head -c 8)',
      'umount /mnt',
    ].join('\n');
    // A journalled ext4 made on the host (the guest has only busybox's mke2fs, without a journal):
    // its fsync always ends in a cache flush (a commit with REQ_PREFLUSH, or a barrier).
    const fsImage = sparseFile(join(dir, 'ext4.img'), 16 * MiB);
    const mk = spawnSync('mkfs.ext4', ['-q', '-F', '-b', '4096', fsImage], { encoding: 'utf8' });
    assert.equal(mk.status, 0, `mkfs.ext4: ${mk.stderr}`);
    const trace = join(dir, 'strace.txt');
    const file = sparseFile(join(dir, 'h.img'), 128 * MiB);
    // --seccomp-bpf: only the traced calls stop the tracee. write: the console, for the markers.
    const r = await runGuest({
      vmm: 'pmemvm', args: nvdimmArgs(file, true, 2), script,
      extraFiles: [{ name: 'ext4.img', data: new Uint8Array(readFileSync(fsImage)), mode: 0o644 }],
      wrap: ['strace', '-f', '-qq', '--seccomp-bpf', '-s', '4096', '-e', 'trace=fdatasync,fsync,msync,write', '-o', trace],
      timeoutMs: 300_000, dumpAfterMs: 280_000,
    });
    const out = r.output;
    assert.equal(r.exitCode, 0, out);
    for (const k of ['FSDAX', 'COPY', 'MOUNT']) assert.equal(field(out, k), '0', `${k}:\n${out}`);
    assert.equal(field(out, 'DAXMOUNT'), '1', out);
    assert.doesNotMatch(out, /^FAIL/m);
    assert.equal(field(out, 'READBACK'), 'REC00007', out);

    const lines = readFileSync(trace, 'utf8').split('\n');
    // The console may write a marker in pieces: find the line whose write completes it.
    const at = (mark: string) => {
      let text = '';
      return lines.findIndex((l) => {
        const m = /\bwrite\(1, "(.*)"/.exec(l);
        if (m) text = (text + m[1]!).slice(-4096);
        return text.includes(mark);
      });
    };
    const [fsyncAt, deepAt, endAt] = [at('MARK-FSYNC'), at('MARK-DEEP'), at('MARK-END')];
    assert.ok(fsyncAt >= 0 && deepAt > fsyncAt && endAt > deepAt, `markers not found in order in the trace: ${fsyncAt} ${deepAt} ${endAt}`);
    // A call that another thread's traced call interrupts is two lines in strace -f
    // ("fdatasync(5 <unfinished ...>", "<... fdatasync resumed>) = 0"): count its first.
    const flushes = (from: number, to: number) => lines.slice(from, to).filter((l) => /\bfdatasync\(\d+/.test(l));
    const threads = (ls: string[]) => new Set(ls.map((l) => l.split(/\s+/)[0]));
    const fsyncPhase = flushes(fsyncAt, deepAt), deepPhase = flushes(deepAt, endAt);
    assert.ok(fsyncPhase.length >= FSYNCS, `host fdatasyncs for ${FSYNCS} guest fsyncs: ${fsyncPhase.length}`);
    assert.ok(deepPhase.length >= DEEP, `host fdatasyncs for ${DEEP} deep_flush writes: ${deepPhase.length}`);
    // deep_flush flushes on the writer's CPU (an fsync's may come from jbd2, wherever it runs):
    // vCPU 0's in libuv's pool, vCPU 1's in its own thread, so two host threads at least.
    assert.ok(threads(deepPhase).size >= 2, `fdatasync threads: ${[...threads(deepPhase)].join(',')}`);
    assert.ok(!lines.some((l) => /fdatasync(\(| resumed>).*= -1/.test(l)), 'a host fdatasync failed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
