// The foundation acceptance: pmemvm boots Debian's kernel to our init on
// real KVM, and the guest sees the CPUs, memory and ACPI tables we gave it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestImage, runGuest } from '../lib/guest.js';
import { rtcTickElf } from '../lib/rtc-tick-elf.js';
import { cpuinfoField } from '../lib/cpuinfo.js';
import { nodeModuleCacheVerdicts } from '../lib/v8-flags.js';

const APPEND = 'console=ttyS0 quiet panic=-1';

/** vendor, family and model of the first CPU in a /proc/cpuinfo, e.g. "AuthenticAMD 25 1". */
function cpuIdentity(cpuinfo: string): string {
  return ['vendor_id', 'cpu family', 'model'].map((k) => cpuinfoField(cpuinfo, k)).join(' ');
}

function field(output: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(output);
  assert.ok(m, `guest did not print ${key}=; output:\n${output}`);
  return m[1].trim();
}

test('boots Debian 6.1 with 2 vCPUs and 512M; guest sees CPUs, memory and ACPI tables, clean dmesg; vCPU 1\'s thread starts with Node\'s code caches', async () => {
  const img = guestImage();
  const start = Date.now() / 1000;
  const r = await runGuest({
    vmm: 'pmemvm',
    args: ['-machine', 'pc', '-m', '512M', '-smp', '2', '-kernel', img.bzImage, '-initrd', img.initrd,
      '-append', APPEND, '-nographic'],
    script: [
      'echo CPUS=$(grep -c ^processor /proc/cpuinfo)',
      'echo ONLINE=$(cat /sys/devices/system/cpu/online)',
      "grep -E '^(vendor_id|cpu family|model)[[:space:]]*:' /proc/cpuinfo | sed 's/^/CPUINFO /'",
      "echo MEMKB=$(awk '/MemTotal/ {print $2}' /proc/meminfo)",
      // The CMOS RTC (PNP0B00 in the DSDT) bound to rtc_cmos, read through the driver.
      'echo RTC=$(cat /sys/class/rtc/rtc0/since_epoch)',
      // ...and its interrupt: one update event (the RTC core makes it from the alarm, IRQ 8).
      'timeout 10 /rtc-tick; echo RTCTICK=$?',
      'echo TABLES=$(ls /sys/firmware/acpi/tables | tr "\\n" " ")',
      "echo BADLINES=$(dmesg | grep -cE 'ACPI Error|BUG:|WARNING:')",
      // The host bridge at 00:00.0 (i440FX, as on QEMU): Linux trusts config mechanism #1 only when it finds one.
      'echo PCI=$(cat /sys/bus/pci/devices/0000:00:00.0/vendor /sys/bus/pci/devices/0000:00:00.0/device /sys/bus/pci/devices/0000:00:00.0/class | tr "\\n" " ")',
      "echo PCIFATAL=$(dmesg | grep -c 'No config space access')",
      "echo PCIROOT=$(dmesg | grep -c 'PCI Root Bridge \\[PCI0\\]')",
      // Port I/O from vCPU 1 (a worker thread) that the main thread must serve while it runs vCPU 0.
      'echo CPU1PCI=$(taskset -c 1 od -An -tx4 -N4 /sys/bus/pci/devices/0000:00:00.0/config)',
      "dmesg | grep -E 'ACPI Error|BUG:|WARNING:|ACPI BIOS' | sed 's/^/DMESG: /'",
    ].join('\n'),
    extraFiles: [{ name: 'rtc-tick', data: rtcTickElf(), mode: 0o755 }],
    // NODE_DEBUG_NATIVE: Node says, for each of its modules, whether V8 took its code cache.
    env: { PMEMVM_DEBUG: '1', NODE_DEBUG_NATIVE: 'CODE_CACHE' },
  });
  assert.equal(r.exitCode, 0, `pmemvm exit code; output:\n${r.output}`);
  // The guest starts only once vCPU 1's thread is about to enter KVM_RUN: else Linux waits for
  // the AP in do_boot_cpu() while the worker starts (seconds in the test host, where a timer
  // interrupt taken there with IF=0 deadlocked 1 boot in 8).
  const order = r.debug.filter((l) => /vCPU 1 thread running|vCPU 0 running on the main thread/.test(l));
  assert.match(order.join('\n'), /vCPU 1 thread running[^]*\n.*vCPU 0 running on the main thread$/, `pmemvm's debug lines:\n${r.debug.join('\n')}`);
  // The guest waits for that start: under pmemvm's V8 flags, the worker's isolate compiled the
  // ~90 Node modules it loads from source (1.9 s of 2.5 in the test host; v8-tiers.ts).
  const { accepted, rejected } = nodeModuleCacheVerdicts(r.output);
  assert.ok(accepted.includes('internal/main/worker_thread'), 'a worker\'s start compiled with Node\'s code cache');
  assert.deepEqual(rejected, [], 'Node\'s modules compiled from source: their code cache refused under pmemvm\'s V8 flags');
  assert.equal(r.guestExit, 0, r.output);
  assert.equal(field(r.output, 'CPUS'), '2');
  assert.equal(field(r.output, 'ONLINE'), '0-1');
  // The default CPU model has qemu64's features but the host's vendor, family and model
  // (a guest that thinks it runs on a K8 scans every PCI bus for a GART aperture).
  assert.equal(cpuIdentity(r.output.replace(/^CPUINFO /gm, '')), cpuIdentity(readFileSync('/proc/cpuinfo', 'utf8')));
  const memKb = Number(field(r.output, 'MEMKB'));
  // MemTotal is RAM minus what the kernel reserves for itself (code, page tables...).
  assert.ok(memKb > 440 * 1024 && memKb <= 512 * 1024, `MemTotal ${memKb} kB is not about 512M`);
  const rtc = Number(field(r.output, 'RTC'));
  assert.ok(rtc >= Math.floor(start) - 1 && rtc <= Date.now() / 1000 + 1, `the guest's RTC says ${rtc}, the host ${Date.now() / 1000}`);
  assert.equal(field(r.output, 'RTCTICK'), '0', 'an RTC update interrupt (exit 124: none came within 10 s)');
  const tables = field(r.output, 'TABLES').split(/\s+/);
  for (const t of ['DSDT', 'FACP', 'APIC']) assert.ok(tables.includes(t), `no ${t} in ${tables.join(',')}`);
  // No maxmem: QEMU turns on no NUMA node and has no SRAT; nor does pmemvm.
  assert.ok(!tables.includes('SRAT'), `an SRAT without maxmem: ${tables.join(',')}`);
  assert.equal(field(r.output, 'BADLINES'), '0', r.output);
  assert.equal(field(r.output, 'PCI'), '0x8086 0x1237 0x060000');
  assert.equal(field(r.output, 'PCIFATAL'), '0', r.output);
  assert.equal(field(r.output, 'PCIROOT'), '1', r.output);
  assert.equal(field(r.output, 'CPU1PCI'), '12378086', r.output);
});

test('the guest console is two-way: a script reads a line typed on stdin; poweroff exits 0 promptly', async () => {
  const r = await runGuest({
    vmm: 'pmemvm',
    args: ['-m', '256M', '-nographic'],
    script: 'echo "What is your name?"\nread name\necho "HELLO=[$name]"\n',
    input: 'pmem guest\n',
    timeoutMs: 90_000,
  });
  assert.equal(r.exitCode, 0, r.output);
  assert.match(r.output, /What is your name\?/);
  assert.equal(field(r.output, 'HELLO'), '[pmem guest]');
  // The guest's init runs `poweroff -f` after the script; exit must follow at once.
  const tail = r.output.slice(r.output.indexOf('PMEMVM-GUEST-EXIT='));
  assert.ok(tail.length < 2000, `pmemvm printed a lot after poweroff:\n${tail}`);
});

test('boots the uncompressed ELF vmlinux as well as the bzImage; a boot loads neither koffi\'s own loader nor Node\'s modules it does not need, and compiles none of Node\'s from source', async () => {
  const img = guestImage();
  // A preloaded hook records, at exit, which of Node's modules and which files were loaded.
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-modules-'));
  try {
    const hook = join(dir, 'hook.cjs'), out = join(dir, 'loaded.json');
    writeFileSync(hook, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({
      builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)), files: Object.keys(require.cache) })));\n`);
    const r = await runGuest({
      vmm: 'pmemvm', args: ['-m', '256M', '-kernel', img.vmlinux, '-nographic'], script: 'echo ELF-BOOT-OK',
      wrap: ['sh', '-c', `exec "$0" --require ${hook} "$@"`],
      // Node says, for each of its modules, whether V8 took its code cache (bin/pmemvm.cjs).
      env: { NODE_DEBUG_NATIVE: 'CODE_CACHE' },
    });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /^ELF-BOOT-OK$/m);
    const { accepted, rejected } = nodeModuleCacheVerdicts(r.output);
    assert.ok(accepted.includes('net'), 'node:net compiled with its code cache');
    assert.deepEqual(rejected, [], 'Node\'s modules compiled from source: their code cache refused under pmemvm\'s V8 flags');
    const loaded = JSON.parse(readFileSync(out, 'utf8')) as { builtins: string[]; files: string[] };
    assert.ok(loaded.builtins.includes('net'), 'the hook saw the run (node:net is the monitors\')');
    // Each was a module load of its own at every start (src/sys/koffi.ts, src/clock.ts, src/sys/libc.ts).
    for (const m of ['module', 'os', 'perf_hooks']) assert.ok(!loaded.builtins.includes(m), `node:${m} was loaded`);
    assert.deepEqual(loaded.files.filter((f) => /koffi/.test(f)), [], 'koffi\'s own loader ran');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pmemvm can be profiled: under node --cpu-prof (a SIGPROF every 100 µs) it boots, exits 0 and writes its profile', async () => {
  // Signals come at any time: KVM_CREATE_VM gives up with EINTR when one is pending while it
  // registers its MMU notifier, and pmemvm used to die of that with a stack trace.
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-prof-'));
  try {
    const r = await runGuest({
      vmm: 'pmemvm', args: ['-m', '256M', '-nographic'], script: 'echo PROFILED-BOOT-OK',
      wrap: ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-interval=100 --cpu-prof-dir=${dir} "$@"`],
      // Each signal takes vCPU 0 out of KVM_RUN, and in the test host a re-entry costs about
      // as long as the interval: such a boot took 53 s on a quick day, 127 s on a slow one
      // (bench/RESULTS.md, sessions 33 and 34).
      timeoutMs: 300_000,
    });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /^PROFILED-BOOT-OK$/m);
    assert.ok(readdirSync(dir).some((f) => f.endsWith('.cpuprofile')), 'no .cpuprofile written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-no-reboot: a guest reboot ends pmemvm instead of rebooting', async () => {
  const r = await runGuest({ vmm: 'pmemvm', args: ['-m', '256M', '-no-reboot', '-nographic'], script: 'echo REBOOTING; reboot -f' });
  assert.equal(r.exitCode, 0, r.output);
  assert.match(r.output, /^REBOOTING$/m);
  assert.equal(r.guestExit, null, 'the guest must not get to finish its script');
});

test('without -no-reboot, a guest reboot boots the machine again', async () => {
  // The same initrd reboots every time: count boots until the timeout ends pmemvm.
  const r = await runGuest({ vmm: 'pmemvm', args: ['-m', '256M', '-nographic'], script: 'echo BOOTED-ONCE; reboot -f', timeoutMs: 75_000 });
  const boots = r.output.match(/^BOOTED-ONCE$/gm)?.length ?? 0;
  assert.ok(boots >= 2, `expected at least two boots, saw ${boots}:\n${r.output}`);
});

test('a stuck guest explains itself: pmemvm\'s state (SIGUSR1), and through a break on the serial line (Ctrl-A b) the guest\'s own SysRq dumps', async () => {
  // runGuest's dumpAfterMs does both before the timeout; here the guest just never ends.
  const r = await runGuest({ vmm: 'pmemvm', args: ['-m', '256M'], script: 'echo STUCK; sleep 1000', timeoutMs: 45_000, dumpAfterMs: 30_000 });
  assert.match(r.output, /^STUCK$/m);
  assert.match(r.output, /^pmemvm: state: vCPU 0: /m, r.output);
  assert.match(r.output, /sysrq: Changing Loglevel/, r.output);
  assert.match(r.output, /sysrq: Show Blocked State/, r.output);
  assert.match(r.output, /sysrq: Show backtrace of all active CPUs/, r.output);
  assert.equal(r.guestExit, null);
});
