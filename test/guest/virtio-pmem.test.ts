// virtio-pmem on a real guest: the device and its region as the guest sees
// them (and as QEMU's guest sees them), DAX ext4, flushes that are fsyncs of
// the backend file (counted with strace), data that survives SIGKILL, and
// two virtio-pmem devices next to an NVDIMM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readAt, sparseFile } from '../lib/files.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runGuest, guestImage, DEFAULT_APPEND } from '../lib/guest.js';
import { makeScriptInitrd } from '../lib/cpio.js';
import { block, field, jsonBlock, printBlock } from '../lib/guest-json.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';
import { PROBE_TAG } from '../../src/devices/virtio/pmem-kernel-answer.js';

const MiB = 1 << 20;
const PMEMVM = pmemvmNodeArgs();

const readText = (path: string, offset: number, len: number) => readAt(path, offset, len).toString('latin1');

interface Region { dev: string; size: number; target_node?: number; namespaces?: { mode: string; map?: string; size: number; blockdev?: string }[] }

const SHOW = [
  'echo VPCI=$(for d in /sys/bus/pci/devices/*; do echo "$(cat $d/vendor):$(cat $d/device):$(cat $d/class)"; done | grep 0x1af4 | tr "\\n" " ")',
  printBlock('PMEMDEV', 'for b in /sys/block/pmem*; do echo "${b##*/} $(( $(cat $b/size) * 512 ))"; done'),
  printBlock('REGIONS', 'ndctl list -RN -v'), // -v: target_node, node 0 of the SRAT that maxmem brings
  "echo BADLINES=$(dmesg | grep -ciE 'ACPI Error|BUG:|WARNING:|virtio.*(fail|error)')",
].join('\n');

const vpmemArgs = (file: string, size = '64M') => ['-m', '256M,maxmem=1G',
  '-object', `memory-backend-file,id=mem1,share=on,mem-path=${file},size=${size}`,
  '-device', 'virtio-pmem-pci,memdev=mem1,id=nv1'];

test('virtio-pmem: the guest sees 1af4:105b, /dev/pmem0 of the backend size, an fsdax namespace (map: mem) and DAX ext4, as on QEMU', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-vpmem-'));
  try {
    const files = { pmemvm: sparseFile(join(dir, 'p.img'), 64 * MiB), qemu: sparseFile(join(dir, 'q.img'), 64 * MiB) };
    // The host makes the file system; the guest mounts it with -o dax and writes through it.
    for (const f of Object.values(files)) {
      const mk = spawnSync('mkfs.ext4', ['-q', '-F', '-b', '4096', f], { encoding: 'utf8' });
      assert.equal(mk.status, 0, `mkfs.ext4: ${mk.stderr}`);
    }
    const script = [
      SHOW,
      'modprobe ext4; mkdir -p /mnt',
      'mount -t ext4 -o dax /dev/pmem0 /mnt; echo MOUNT=$?',
      "echo DAXMOUNT=$(grep -c ' /mnt ext4 .*dax' /proc/mounts)",
      'echo hello-from-the-guest > /mnt/hello; sync /mnt/hello; echo SYNC=$?',
      'umount /mnt; echo UMOUNT=$?',
    ].join('\n');
    const r = await runGuest({ vmm: 'pmemvm', args: vpmemArgs(files.pmemvm), script });
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(r.guestExit, 0, r.output);
    assert.equal(field(r.output, 'VPCI'), '0x1af4:0x105b:0x00ff00'); // class as QEMU gives it
    assert.equal(block(r.output, 'PMEMDEV').trim(), `pmem0 ${64 * MiB}`);
    const regions = jsonBlock<{ regions: Region[] } | Region[] | Region>(r.output, 'REGIONS');
    const list = Array.isArray(regions) ? regions : 'regions' in regions ? regions.regions : [regions];
    assert.equal(list.length, 1, r.output);
    assert.equal(list[0]!.size, 64 * MiB);
    assert.equal(list[0]!.target_node, 0, r.output);
    assert.deepEqual(list[0]!.namespaces?.map((n) => [n.mode, n.map, n.size, n.blockdev]), [['fsdax', 'mem', 64 * MiB, 'pmem0']]);
    for (const k of ['MOUNT', 'SYNC', 'UMOUNT']) assert.equal(field(r.output, k), '0', `${k}:\n${r.output}`);
    assert.equal(field(r.output, 'DAXMOUNT'), '1', r.output);
    assert.equal(field(r.output, 'BADLINES'), '0', r.output);
    // What the guest wrote through DAX is in the host's file system image.
    const debugfs = spawnSync('debugfs', ['-R', 'cat /hello', files.pmemvm], { encoding: 'utf8' });
    assert.equal(debugfs.stdout.trim(), 'hello-from-the-guest', debugfs.stderr);
    // The start-up line: a page-cache file is crash-safe for what the guest flushes.
    assert.match(r.output, /^pmemvm: nv1: mem1 \(.*p\.img\) is crash-safe \[page-cache\]: what the guest flushes/m);

    const q = await runGuest({ vmm: 'qemu', args: vpmemArgs(files.qemu), script });
    assert.equal(q.guestExit, 0, q.output);
    assert.equal(block(q.output, 'PMEMDEV'), block(r.output, 'PMEMDEV'));
    assert.deepEqual(jsonBlock(q.output, 'REGIONS'), regions);
    assert.equal(field(q.output, 'DAXMOUNT'), '1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * How a run counts the host's fsyncs of the backend. pmemvm makes them in an io_uring where the
 * kernel offers one (no system call for strace to see; perf counts the ring's fsync requests as
 * they are submitted), else on its device I/O thread (strace sees each fsync(2)).
 */
type DeviceIo = 'ring' | 'thread';

/** The io_uring tracepoint of a submitted request (Linux 6.1 calls it io_uring_submit_sqe, later ones io_uring_submit_req). */
function submitTracepoint(): string {
  const events = '/sys/kernel/tracing/events/io_uring';
  if (!existsSync(events)) execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
  return existsSync(`${events}/io_uring_submit_req`) ? 'io_uring:io_uring_submit_req' : 'io_uring:io_uring_submit_sqe';
}
const IORING_OP_FSYNC = 3, IORING_OP_READ = 22;
/** KVM_SIGNAL_MSI: an interrupt raised from user space (pmemvm's answer to a flush, when not answered in the kernel). */
const KVM_SIGNAL_MSI = 0x4020aea5;

/**
 * Boot with a guest that does `n` fsyncs on /dev/pmem0; return the host's fsyncs of the backend,
 * the output, and the exits that pmemvm's main thread served (PMEMVM_EXIT_STATS).
 */
async function fsyncRun(file: string, n: number, dir: string, io: DeviceIo, cpus = 1, answers: 'kernel' | 'user' = 'kernel'): Promise<{ fsyncs: number; msiIoctls: number; out: string; mainExits: Map<string, number> }> {
  const script = [
    `i=0; while [ $i -lt ${n} ]; do printf "REC%05d" $i | dd of=/dev/pmem0 bs=4096 seek=$i conv=notrunc,fsync 2>/dev/null || echo FAIL $i; i=$((i+1)); done`,
    `echo FSYNCS-DONE=${n}`,
    "echo BAR4=$(sed -n 5p /sys/bus/pci/devices/0000:00:02.0/resource | cut -d' ' -f1)",
    // The interrupt count summed over the CPUs' columns, then the chip (PCI-MSI, IO-APIC).
    "echo QUEUEIRQ=$(grep virtio0-flush_queue /proc/interrupts | awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else { print s, $i; exit } }')",
  ].join('\n');
  const trace = join(dir, `trace-${io}-${n}-${cpus}-${answers}.txt`);
  // strace --seccomp-bpf: only fsync/msync stop the tracee, so the VM runs at full speed.
  // perf stat: a count in the kernel, nothing stops.
  const wrap = io === 'thread'
    ? ['strace', '-f', '-qq', '--seccomp-bpf', '-e', 'trace=fsync,msync', '-o', trace]
    // Not the fsyncs of the probe for answers in the kernel (a memfd's, a pipe's; tagged apart).
    : ['perf', 'stat', '-x,', '-o', trace, '-e', submitTracepoint(), '--filter', `opcode == ${IORING_OP_FSYNC} && user_data < ${PROBE_TAG}`,
      '-e', 'syscalls:sys_enter_ioctl', '--filter', `cmd == ${KVM_SIGNAL_MSI}`, '--'];
  const r = await runGuest({
    vmm: 'pmemvm', args: ['-smp', String(cpus), ...vpmemArgs(file)], script, env: { PMEMVM_EXIT_STATS: '1', PMEMVM_DEVICE_IO: io, PMEMVM_FLUSH_ANSWERS: answers },
    wrap, timeoutMs: 180_000, dumpAfterMs: 170_000,
  });
  const out = r.output;
  assert.equal(r.exitCode, 0, out);
  assert.match(out, new RegExp(`^FSYNCS-DONE=${n}$`, 'm'));
  assert.doesNotMatch(out, /^FAIL/m);
  const mainExits = new Map([...out.matchAll(/^ +(\d+) +(pio|mmio) (0x[0-9a-f]+) ([rw]\d)$/gm)].map((m) => [`${m[2]} ${m[3]} ${m[4]}`, Number(m[1])] as const));
  const text = readFileSync(trace, 'utf8');
  if (io === 'ring') {
    // At exit pmemvm writes the backend back once more with a plain msync and fsync, not through the ring.
    const count = /^(\d+),,io_uring:/m.exec(text);
    const msi = /^(\d+),,syscalls:sys_enter_ioctl/m.exec(text);
    assert.ok(count && msi, `perf stat output:\n${text}`);
    return { fsyncs: Number(count[1]), msiIoctls: Number(msi[1]), out, mainExits };
  }
  const calls = text.split('\n').filter((l) => /\b(fsync|msync)\(/.test(l));
  // At exit pmemvm writes the backend back once more (msync, then fsync): count only what comes before.
  const exitFlush = calls.findIndex((l) => l.includes('msync('));
  return { fsyncs: calls.slice(0, exitFlush < 0 ? calls.length : exitFlush).filter((l) => l.includes('fsync(')).length, msiIoctls: NaN, out, mainExits };
}

test('every guest fsync on /dev/pmem0 is exactly one fsync of the backend on the host (perf, strace), and the data is in the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-vpmem-'));
  try {
    // The guest kernel may flush on its own (at probe or shutdown); runs that differ only in
    // the number of guest fsyncs must differ by exactly that many host fsyncs, served either way.
    const few = await fsyncRun(sparseFile(join(dir, 'few.img'), 64 * MiB), 5, dir, 'ring');
    const file = sparseFile(join(dir, 'many.img'), 64 * MiB);
    const many = await fsyncRun(file, 25, dir, 'ring');
    assert.equal(many.fsyncs - few.fsyncs, 20, `host fsyncs: ${few.fsyncs} for 5 guest fsyncs, ${many.fsyncs} for 25`);
    assert.ok(few.fsyncs >= 5 && few.fsyncs <= 6, `host fsyncs for 5 guest fsyncs: ${few.fsyncs}`);
    for (let i = 0; i < 25; i++) assert.equal(readText(file, i * 4096, 8), `REC${String(i).padStart(5, '0')}`);
    const threadFile = sparseFile(join(dir, 'thread.img'), 64 * MiB);
    const thread = await fsyncRun(threadFile, 25, dir, 'thread');
    assert.equal(thread.fsyncs, many.fsyncs, `host fsyncs for 25 guest fsyncs: ${many.fsyncs} through the ring, ${thread.fsyncs} from the device I/O thread`);
    for (let i = 0; i < 25; i++) assert.equal(readText(threadFile, i * 4096, 8), `REC${String(i).padStart(5, '0')}`);
    // Two vCPUs: the ring again, now behind KVM's ioeventfd.
    const smpFile = sparseFile(join(dir, 'smp.img'), 64 * MiB);
    const smp = await fsyncRun(smpFile, 25, dir, 'ring', 2);
    assert.equal(smp.fsyncs, many.fsyncs, `host fsyncs for 25 guest fsyncs: ${many.fsyncs} with one vCPU, ${smp.fsyncs} with two`);
    for (let i = 0; i < 25; i++) assert.equal(readText(smpFile, i * 4096, 8), `REC${String(i).padStart(5, '0')}`);
    // Through the ring, each flush is answered in the kernel (status, used ring, an irqfd for
    // the MSI: pmem-kernel-answer.ts), with one vCPU or two: no KVM_SIGNAL_MSI from pmemvm.
    for (const run of [few, many, smp]) assert.ok(run.msiIoctls < 5, `KVM_SIGNAL_MSI ioctls for ${run.fsyncs} host fsyncs: ${run.msiIoctls}`);
    // PMEMVM_FLUSH_ANSWERS=user: pmemvm answers each flush and sends its MSI itself.
    const userFile = sparseFile(join(dir, 'user.img'), 64 * MiB);
    const user = await fsyncRun(userFile, 25, dir, 'ring', 1, 'user');
    assert.equal(user.fsyncs, many.fsyncs, `host fsyncs for 25 guest fsyncs: ${many.fsyncs} answered in the kernel, ${user.fsyncs} by pmemvm`);
    assert.ok(user.msiIoctls >= 25, `KVM_SIGNAL_MSI ioctls for ${user.fsyncs} host fsyncs answered by pmemvm: ${user.msiIoctls}`);
    for (let i = 0; i < 25; i++) assert.equal(readText(userFile, i * 4096, 8), `REC${String(i).padStart(5, '0')}`);

    // The guest's driver uses MSI-X (one message per answered flush), and the device-status
    // reads around each request are answered in the vCPU thread. The notify goes to the thread
    // that serves the queue: with one vCPU and the ring, that is vCPU 0's own exit, which serves
    // it at once (one exit per flush, and no ioeventfd round); otherwise KVM's ioeventfd takes
    // it, and no vCPU waits for pmemvm.
    for (const [run, notifies] of [[many, 'each'], [thread, 'none'], [smp, 'none']] as const) {
      const [irqs, kind] = field(run.out, 'QUEUEIRQ').split(' ');
      assert.equal(kind, 'PCI-MSI', run.out);
      assert.ok(Number(irqs) >= 25, `MSI-X interrupts for 25 flushes: ${irqs}`);
      const bar = Number(field(run.out, 'BAR4'));
      assert.ok(bar > 0 && run.mainExits.size > 0, run.out.slice(-3000));
      const at = (off: number, access: string) => run.mainExits.get(`mmio 0x${(bar + off).toString(16)} ${access}`) ?? 0;
      const exits = [...run.mainExits].map(([k, v]) => `${v} ${k}`).join('\n');
      assert.deepEqual({ isr: at(0x1000, 'r1'), status: at(0x14, 'r1') }, { isr: 0, status: 0 }, exits);
      if (notifies === 'none') assert.equal(at(0x3000, 'w2'), 0, exits);
      else assert.ok(at(0x3000, 'w2') >= 25 && at(0x3000, 'w2') <= run.fsyncs, `one notify exit per flush: ${at(0x3000, 'w2')} for ${run.fsyncs} fsyncs\n${exits}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two vCPUs, the guest moving the queue\'s interrupt between them while it flushes: every flush is answered (masks and new messages while answers are in flight in the kernel), and the interrupt follows; then four writers flushing at once are all answered (requests waiting behind an answer in flight)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-vpmem-'));
  try {
    const file = sparseFile(join(dir, 'move.img'), 64 * MiB);
    const n = 150, perWriter = 20;
    // Linux masks an MSI-X vector around each new message (affinity moves at the vector's next interrupt).
    const script = [
      "IRQ=$(awk -F: '/virtio0-flush_queue/ { gsub(/ /, \"\", $1); print $1 }' /proc/interrupts)",
      '( while :; do echo 1 > /proc/irq/$IRQ/smp_affinity; echo 2 > /proc/irq/$IRQ/smp_affinity; done ) 2>/dev/null &',
      'MOVER=$!',
      `i=0; while [ $i -lt ${n} ]; do printf "REC%05d" $i | dd of=/dev/pmem0 bs=4096 seek=$i conv=notrunc,fsync 2>/dev/null || echo FAIL $i; i=$((i+1)); done`,
      'kill $MOVER',
      `echo FSYNCS-DONE=${n}`,
      // Four writers at once: requests pile up behind the one in flight, with no notify after them.
      `for w in 1 2 3 4; do ( j=0; while [ $j -lt ${perWriter} ]; do printf "PAR$w%04d" $j | dd of=/dev/pmem0 bs=4096 seek=$((${n} + (w - 1) * ${perWriter} + j)) conv=notrunc,fsync 2>/dev/null || echo FAIL P$w $j; j=$((j+1)); done ) & done; wait`,
      'echo PARALLEL-DONE',
      "echo PERCPU=$(grep virtio0-flush_queue /proc/interrupts | awk '{ print $2, $3 }')",
      "echo BADLINES=$(dmesg | grep -ciE 'No irq handler|spurious|BUG:|WARNING:|virtio.*(fail|error)')",
    ].join('\n');
    const trace = join(dir, 'perf.txt');
    const r = await runGuest({
      vmm: 'pmemvm', args: ['-smp', '2', ...vpmemArgs(file)], script, env: { PMEMVM_DEVICE_IO: 'ring', PMEMVM_FLUSH_ANSWERS: 'kernel' },
      wrap: ['perf', 'stat', '-x,', '-o', trace, '-e', submitTracepoint(), '--filter', `opcode == ${IORING_OP_READ}`, '--'],
      timeoutMs: 240_000, dumpAfterMs: 230_000,
    });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, new RegExp(`^FSYNCS-DONE=${n}$`, 'm'), r.output.slice(-3000));
    assert.doesNotMatch(r.output, /^FAIL/m);
    for (let i = 0; i < n; i++) assert.equal(readText(file, i * 4096, 8), `REC${String(i).padStart(5, '0')}`);
    assert.match(r.output, /^PARALLEL-DONE$/m, r.output.slice(-3000));
    for (let w = 1; w <= 4; w++) {
      for (let j = 0; j < perWriter; j++) assert.equal(readText(file, (n + (w - 1) * perWriter + j) * 4096, 8), `PAR${w}${String(j).padStart(4, '0')}`);
    }
    const [cpu0, cpu1] = field(r.output, 'PERCPU').split(' ').map(Number);
    assert.ok(cpu0! > 0 && cpu1! > 0, `the queue's interrupts on CPU 0 and CPU 1: ${cpu0}, ${cpu1}`);
    assert.equal(field(r.output, 'BADLINES'), '0', r.output);
    // Four reads from the staging memfd per flush answered in the kernel (status, used element,
    // used index, `seen`): most of them were.
    const reads = Number(/^(\d+),,io_uring:/m.exec(readFileSync(trace, 'utf8'))?.[1]);
    const all = n + 4 * perWriter;
    console.log(`# interrupts CPU 0 ${cpu0}, CPU 1 ${cpu1}; flushes answered in the kernel: ${reads / 4} of ${all}`);
    assert.ok(reads / 4 >= all / 2, `flushes answered in the kernel: ${reads / 4} of ${all}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGKILL at a random moment never loses a write that the guest\'s fsync acknowledged (3 rounds)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-vpmem-'));
  try {
    const file = sparseFile(join(dir, 'k.img'), 64 * MiB);
    const img = guestImage();
    // Each round appends records after the previous round's (the guest reads where to start).
    const script = [
      'start=$(dd if=/dev/pmem0 bs=4096 count=1 skip=16383 2>/dev/null | head -c 8)',
      'case "$start" in N*) i=$(echo "${start#N}" | sed "s/^0*//"); i=${i:-0};; *) i=0;; esac',
      'while :; do',
      '  printf "REC%05d" $i | dd of=/dev/pmem0 bs=4096 seek=$i conv=notrunc,fsync 2>/dev/null || exit 1',
      '  echo "ACK $i"',
      '  i=$((i+1)); printf "N%05d" $i | dd of=/dev/pmem0 bs=4096 seek=16383 conv=notrunc,fsync 2>/dev/null',
      'done',
    ].join('\n');
    const initrd = await makeScriptInitrd(img.initrd, script);
    let acked = -1;
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, [...PMEMVM, ...vpmemArgs(file), '-kernel', img.vmlinux, '-initrd', initrd,
        '-append', DEFAULT_APPEND, '-nographic'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let killAfter = -1;
      const seen = await new Promise<number>((res) => {
        const onData = (s: string) => {
          out += s;
          const acks = [...out.matchAll(/^ACK (\d+)\r?$/gm)];
          if (acks.length && killAfter < 0) killAfter = 2 + Math.floor(Math.random() * 6);
          if (killAfter >= 0 && acks.length >= killAfter) child.kill('SIGKILL');
        };
        child.stdout.setEncoding('utf8').on('data', onData);
        child.stderr.setEncoding('utf8').on('data', onData);
        const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
        child.on('close', () => { clearTimeout(timer); res(Math.max(-1, ...[...out.matchAll(/^ACK (\d+)\r?$/gm)].map((m) => Number(m[1])))); });
      });
      assert.ok(seen > acked, `round ${round}: no new acknowledged write:\n${out.slice(-3000)}`);
      acked = seen;
      for (let i = 0; i <= acked; i++) assert.equal(readText(file, i * 4096, 8), `REC${String(i).padStart(5, '0')}`, `round ${round}: record ${i} lost`);
    }
    rmSync(dirname(initrd), { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two virtio-pmem devices next to an NVDIMM with labels (whose size is not a 2M multiple) in one guest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-vpmem-'));
  try {
    const [a, n] = ['a.img', 'n.img'].map((f) => sparseFile(join(dir, f), 32 * MiB));
    // The second virtio-pmem device is share=off: its guest writes must never reach the file.
    const b = join(dir, 'b.img');
    writeFileSync(b, Buffer.alloc(32 * MiB, 0x5a));
    const r = await runGuest({
      vmm: 'pmemvm',
      args: ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=2G',
        '-object', `memory-backend-file,id=n0,share=on,mem-path=${n},size=32M`, '-device', 'nvdimm,id=nv0,memdev=n0,label-size=128K',
        '-object', `memory-backend-file,id=v0,share=on,mem-path=${a},size=32M`, '-device', 'virtio-pmem-pci,memdev=v0,id=vp0',
        '-object', `memory-backend-file,id=v1,share=off,mem-path=${b},size=32M`, '-device', 'virtio-pmem-pci,memdev=v1,id=vp1'],
      script: [
        SHOW,
        // Tag each device with its own name, then look in the files.
        'for d in /sys/block/pmem*; do p=${d##*/}; printf "TAG-$p" | dd of=/dev/$p bs=4096 conv=notrunc,fsync 2>/dev/null; done',
        'echo NREGIONS=$(ndctl list -R | grep -c \'"dev":"region\')',
        "echo MISALIGNED=$(dmesg | grep -c 'misaligned')",
      ].join('\n'),
    });
    assert.equal(r.guestExit, 0, r.output);
    assert.equal(field(r.output, 'VPCI'), '0x1af4:0x105b:0x00ff00 0x1af4:0x105b:0x00ff00');
    assert.equal(field(r.output, 'NREGIONS'), '3');
    assert.equal(field(r.output, 'MISALIGNED'), '0', r.output);
    assert.equal(block(r.output, 'PMEMDEV').trim().split('\n').length, 3);
    const tags = [a, n].map((f) => readText(f, 0, 9));
    assert.ok(tags.every((t) => /^TAG-pmem\d$/.test(t)), tags.join(','));
    assert.equal(new Set(tags).size, 2, `each device has its own backend: ${tags}`);
    assert.ok(readFileSync(b).every((x) => x === 0x5a), 'share=off: a guest write reached the file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
