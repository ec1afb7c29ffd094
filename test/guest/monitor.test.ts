// The monitor on a real guest: QMP and HMP drive pmemvm as QEMU's clients drive QEMU.
// Lifecycle (stop/cont with a guest that prints every 100 ms, system_reset,
// system_powerdown through the ACPI power button, quit), events in order, queries that
// must name real things (the vCPU's host thread), and the documents' HMP lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startVmm, type RunningVmm } from '../lib/vmm.js';
import { POWER_BUTTON_SCRIPT, WAITING, checkPowerButtonRun } from '../lib/power-button.js';
import { QmpClient, type QmpEvent } from '../../src/monitor/client.js';
import { hmpSession } from '../lib/hmp.js';
import { nodeModuleCacheVerdicts } from '../lib/v8-flags.js';

/** A guest that prints a numbered line every 100 ms, forever. */
const TICKER = 'i=0; while true; do echo "TICK $i"; i=$((i+1)); sleep 0.1; done';
const ticks = (s: string) => (s.match(/^TICK \d+$/gm) ?? []).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function collect(vm: RunningVmm): QmpEvent[] {
  const events: QmpEvent[] = [];
  vm.qmp.onEvent((e) => events.push(e));
  return events;
}

test('QMP: greeting, queries, stop/cont pause the guest, system_reset reboots it, quit ends pmemvm; the QMP socket and the vCPU thread cost no compile of Node\'s modules from source', async () => {
  // stdin /dev/null, as a service manager gives it: pmemvm must not read it (below).
  // NODE_DEBUG_NATIVE: Node says, for each of its modules, whether V8 took its code cache.
  const vm = await startVmm({ vmm: 'pmemvm', script: TICKER, args: ['-m', '256M', '-smp', '2', '-name', 'guest-7'], stdin: 'devnull', env: { NODE_DEBUG_NATIVE: 'CODE_CACHE' } });
  try {
    const events = collect(vm);
    assert.deepEqual(vm.qmp.greeting.QMP.version.qemu, { micro: 0, minor: 2, major: 7 });
    assert.match(vm.qmp.greeting.QMP.version.package, /^pmemvm \d+\.\d+\.\d+$/);
    assert.deepEqual(vm.qmp.greeting.QMP.capabilities, []);
    assert.deepEqual(await vm.qmp.execute('query-name'), { name: 'guest-7' });
    assert.deepEqual(await vm.qmp.execute('query-kvm'), { enabled: true, present: true });
    assert.deepEqual(await vm.qmp.execute('query-memory-size-summary'), { 'base-memory': 256 * 1024 * 1024 });

    await vm.waitFor(/^TICK 5$/m);
    // Every vCPU's thread-id is a thread of the pmemvm process (vCPU 0: its main thread).
    const cpus = await vm.qmp.execute<{ 'cpu-index': number; 'thread-id': number }[]>('query-cpus-fast');
    assert.deepEqual(cpus.map((c) => c['cpu-index']), [0, 1]);
    assert.equal(cpus[0]!['thread-id'], vm.child.pid);
    for (const c of cpus) assert.ok(existsSync(`/proc/${vm.child.pid}/task/${c['thread-id']}`), `thread ${c['thread-id']} is pmemvm's`);
    // pmemvm's threads, started as bin/pmemvm.cjs: the main one (vCPU 0), vCPU 1's worker, V8's
    // delayed-task thread and its one background thread (--v8-pool-size=1 on the script's first
    // line), and Node's inspector signal thread; libuv's pool never starts (a CommonJS bundle,
    // and stdin /dev/null not read: Node reads it through that pool).
    // V8's background thread runs at nice 19, below everything else (v8-threads.ts); the vCPUs keep 0.
    const task = (tid: string, file: string) => readFileSync(`/proc/${vm.child.pid}/task/${tid}/${file}`, 'latin1');
    const niceOf = (tid: number | string) => Number(task(String(tid), 'stat').split(') ')[1]!.split(' ')[16]);
    const tids = readdirSync(`/proc/${vm.child.pid}/task`).filter((t) => !task(t, 'comm').startsWith('iou-'));
    const nices = tids.map(niceOf);
    assert.ok(tids.length <= 5, `${tids.length} threads, more than 5: ${tids.map((t) => `${t} ${task(t, 'comm').trim()} nice ${niceOf(t)}`).join('; ')}`);
    assert.deepEqual([nices.filter((n) => n === 19).length, nices.filter((n) => n === 0).length], [1, nices.length - 1], `nice values: ${nices.join(' ')}`);
    for (const c of cpus) assert.equal(niceOf(c['thread-id']), 0);

    await vm.qmp.execute('stop');
    assert.deepEqual(await vm.qmp.execute('query-status'), { status: 'paused', singlestep: false, running: false });
    const paused = ticks(vm.output());
    await sleep(1500);
    assert.equal(ticks(vm.output()), paused, 'a paused guest prints nothing');
    await vm.qmp.execute('stop'); // already paused: nothing happens, no event
    await vm.qmp.execute('cont');
    assert.deepEqual(await vm.qmp.execute('query-status'), { status: 'running', singlestep: false, running: true });
    await vm.waitFor(new RegExp(`^TICK ${paused + 3}$`, 'm'));

    const before = vm.output().length;
    await vm.qmp.execute('system_reset');
    await vm.waitFor(/PMEMVM-GUEST-READY[\s\S]*^TICK 2$/m, 120_000, before);
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
    assert.ok(!existsSync(vm.qmpPath), 'the QMP socket is removed when pmemvm exits');
    assert.deepEqual(events.map((e) => [e.event, e.data]), [
      ['STOP', undefined], ['RESUME', undefined],
      ['RESET', { guest: false, reason: 'host-qmp-system-reset' }],
      ['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }],
    ]);
    for (const e of events) assert.ok(Number.isInteger(e.timestamp.seconds) && Number.isInteger(e.timestamp.microseconds));
    // The socket's listen loads node:cluster and ten more, a worker's start about 90: under
    // pmemvm's V8 flags all were compiled from source (src/machine/v8-tiers.ts).
    const { accepted, rejected } = nodeModuleCacheVerdicts(vm.output());
    for (const m of ['cluster', 'internal/main/worker_thread']) assert.ok(accepted.includes(m), `node:${m} compiled with its code cache`);
    assert.deepEqual(rejected, [], 'Node\'s modules compiled from source: their code cache refused under pmemvm\'s V8 flags');
  } finally {
    await vm.close();
  }
});

test('QMP: -S waits in prelaunch; system_powerdown presses the ACPI power button, the guest powers off (SHUTDOWN guest-shutdown)', async () => {
  const vm = await startVmm({ vmm: 'pmemvm', script: POWER_BUTTON_SCRIPT, args: ['-m', '256M', '-S'] });
  try {
    const events = collect(vm);
    assert.deepEqual(await vm.qmp.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false });
    await sleep(1000);
    assert.doesNotMatch(vm.output(), /Linux version|PMEMVM-GUEST/, 'nothing runs before cont');
    await vm.qmp.execute('cont');
    await vm.waitFor(new RegExp(`^${WAITING} event\\d+$`, 'm'));
    await vm.qmp.execute('system_powerdown');
    assert.equal(await vm.exit(), 0);
    checkPowerButtonRun(vm.output(), 0);
    assert.deepEqual(events.map((e) => [e.event, e.data]), [
      ['RESUME', undefined], ['POWERDOWN', undefined], ['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }],
    ]);
  } finally {
    await vm.close();
  }
});

test("HMP on a socket: QEMU's banner and texts; the documents' object_add line opens a backend; device_add explains itself; stop, cont, system_reset and quit from the prompt", async () => {
  const vm = await startVmm({ vmm: 'pmemvm', script: TICKER, args: (dir) => ['-m', '256M,slots=2,maxmem=2G', '-monitor', `unix:${join(dir, 'hmp.sock')},server=on,wait=off`] });
  try {
    const hmpPath = join(vm.dir, 'hmp.sock');
    assert.equal(statSync(hmpPath).mode & 0o777, 0o600, 'the monitor socket is private');
    const h = await hmpSession(hmpPath);
    assert.equal(h.banner, 'QEMU 7.2.0 monitor - type \'help\' for more information\r\n');
    assert.equal(await h.run('info status'), 'VM status: running\n');
    const img = join(vm.dir, 'new_nvdimm.img');
    assert.equal(await h.run(`object_add memory-backend-file,id=mem2,share=on,mem-path=${img},size=64M`), '');
    assert.equal(statSync(img).size, 64 << 20, 'object_add made the backend file');
    assert.match(await h.run('info memdev'), /memory backend: mem2\n +size: {2}67108864\n/);
    assert.match(await h.run('device_add nvdimm,id=nvdimm2,memdev=mem2'), /^Error: nvdimm is not enabled: missing 'nvdimm' in '-M'\n$/);
    assert.equal(await h.run('object_del mem2'), '');
    assert.match(await h.run('object_del mem2'), /^Error: object 'mem2' not found\n$/);
    // The lifecycle from the prompt: QEMU's HMP commands call its QMP ones (same events, same reasons).
    const events = collect(vm);
    assert.equal(await h.run('info cpus'), `* CPU #0: thread_id=${vm.child.pid}\n`);
    assert.equal(await h.run('stop'), '');
    assert.equal(await h.run('info status'), 'VM status: paused\n');
    const paused = ticks(vm.output());
    await sleep(1500);
    assert.equal(ticks(vm.output()), paused, 'a paused guest prints nothing');
    assert.equal(await h.run('cont'), '');
    await vm.waitFor(new RegExp(`^TICK ${paused + 3}$`, 'm'));
    const before = vm.output().length;
    assert.equal(await h.run('system_reset'), '');
    await vm.waitFor(/PMEMVM-GUEST-READY[\s\S]*^TICK 2$/m, 120_000, before);
    h.send('quit'); // no prompt follows: pmemvm exits
    assert.equal(await vm.exit(), 0);
    assert.deepEqual(events.map((e) => [e.event, e.data]), [
      ['STOP', undefined], ['RESUME', undefined],
      ['RESET', { guest: false, reason: 'host-qmp-system-reset' }],
      ['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }],
    ]);
    assert.ok(!existsSync(hmpPath));
    assert.ok(readFileSync(img).length === 64 << 20, 'object_del keeps the file, as QEMU');
  } finally {
    await vm.close();
  }
});

test('-no-shutdown: a guest poweroff leaves pmemvm in the shutdown state; cont is refused until system_reset, then the guest boots again', async () => {
  const vm = await startVmm({ vmm: 'pmemvm', script: 'echo BOOTED', args: ['-m', '256M', '-no-shutdown'] });
  try {
    const events = collect(vm);
    await vm.qmp.waitEvent('STOP', () => true, 120_000);
    assert.deepEqual(await vm.qmp.execute('query-status'), { status: 'shutdown', singlestep: false, running: false });
    await assert.rejects(vm.qmp.execute('cont'), { errorClass: 'GenericError', desc: 'Resetting the Virtual Machine is required' });
    const before = vm.output().length;
    // Wait for RESET from before the command: it follows the reply closely and can come in the same read.
    const reset = vm.qmp.waitEvent('RESET');
    await vm.qmp.execute('system_reset');
    await reset;
    assert.deepEqual(await vm.qmp.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false });
    await vm.qmp.execute('cont');
    await vm.waitFor(/^BOOTED$/m, 120_000, before);
    await vm.qmp.waitEvent('STOP', () => true, 120_000); // it powers off again
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
    assert.deepEqual(events.map((e) => [e.event, e.data]), [
      ['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }], ['STOP', undefined],
      ['RESET', { guest: false, reason: 'host-qmp-system-reset' }], ['RESUME', undefined],
      ['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }], ['STOP', undefined],
      ['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }],
    ]);
  } finally {
    await vm.close();
  }
});

test('-serial mon:stdio: Ctrl-A h lists the keys, Ctrl-A c switches stdio between the guest console and the HMP monitor, Ctrl-A x quits', async () => {
  // (-nographic alone does the same, but a -qmp takes the monitor's place there, as in QEMU.)
  const vm = await startVmm({ vmm: 'pmemvm', script: TICKER, args: ['-m', '256M', '-serial', 'mon:stdio'] });
  try {
    await vm.waitFor(/^TICK 3$/m);
    let from = vm.output().length;
    vm.child.stdin!.write('\x01h');
    await vm.waitFor(/C-a h {4}print this help\nC-a x {4}exit emulator\nC-a b {4}send break \(magic sysrq\)\nC-a c {4}switch between console and monitor\n/, 30_000, from);
    from = vm.output().length;
    vm.child.stdin!.write('\x01c');
    await vm.waitFor(/QEMU 7\.2\.0 monitor - type 'help' for more information\n\(qemu\) /, 30_000, from);
    from = vm.output().length;
    vm.child.stdin!.write('info status\n');
    await vm.waitFor(/VM status: running\n/, 30_000, from);
    vm.child.stdin!.write('stop\n');
    await vm.qmp.waitEvent('STOP');
    from = vm.output().length;
    vm.child.stdin!.write('info status\n');
    await vm.waitFor(/VM status: paused\n/, 30_000, from);
    vm.child.stdin!.write('cont\n');
    await vm.qmp.waitEvent('RESUME');
    vm.child.stdin!.write('\x01c'); // back to the guest: keys go to its console again
    vm.child.stdin!.write('\x01x');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

test('a break on the serial line reaches the guest: Ctrl-A b, QMP chardev-send-break and HMP chardev-send-break, each followed by a key, are a magic SysRq', async () => {
  // Debian's kernel takes a break on its serial console as SysRq (CONFIG_MAGIC_SYSRQ_SERIAL); h prints the help.
  const vm = await startVmm({ vmm: 'pmemvm', script: 'echo 1 > /proc/sys/kernel/sysrq; echo SYSRQ-ON; sleep 1000', args: ['-m', '256M', '-serial', 'mon:stdio'] });
  const helps = (from: number) => vm.output().slice(from).split('sysrq: HELP : ').length - 1;
  try {
    await vm.waitFor(/^SYSRQ-ON$/m);
    const from = vm.output().length;
    vm.child.stdin!.write('\x01bh');
    await vm.waitFor(/sysrq: HELP : /, 30_000, from);
    const labels = (await vm.qmp.execute('query-chardev')).map((c) => c.label);
    assert.ok(labels.includes('serial0'), labels.join(' '));
    assert.deepEqual(await vm.qmp.execute('chardev-send-break', { id: 'serial0' }), {});
    vm.child.stdin!.write('h');
    await vm.waitFor(/sysrq: HELP : [^]*sysrq: HELP : /, 30_000, from);
    assert.equal(await vm.qmp.execute('human-monitor-command', { 'command-line': 'chardev-send-break serial0' }), '');
    vm.child.stdin!.write('h');
    await vm.waitFor(/sysrq: HELP : [^]*sysrq: HELP : [^]*sysrq: HELP : /, 30_000, from);
    // Without a break, h is just a key for the guest's shell; a chardev that is not there is named.
    await assert.rejects(vm.qmp.execute('chardev-send-break', { id: 'nope' }), { errorClass: 'GenericError', desc: "Chardev 'nope' not found" });
    assert.equal(helps(from), 3);
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

test('wait=on: the guest starts only once a client has connected to that monitor; the others answer meanwhile', async () => {
  const vm = await startVmm({ vmm: 'pmemvm', script: 'echo BOOTED', args: (dir) => ['-m', '256M', '-monitor', `unix:${join(dir, 'h.sock')},server=on,wait=on`] });
  try {
    assert.deepEqual(await vm.qmp.execute('query-name'), {}); // the QMP monitor (wait=off) serves already
    await sleep(2000);
    assert.doesNotMatch(vm.output(), /Linux version|PMEMVM-GUEST/, 'no guest before the first client');
    const h = await hmpSession(join(vm.dir, 'h.sock'));
    await vm.waitFor(/^BOOTED$/m);
    h.close();
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

test('info registers from two monitors at once: a running worker vCPU answers both', async () => {
  const vm = await startVmm({ vmm: 'pmemvm', script: 'echo UP; read x', args: (dir) => ['-m', '256M', '-smp', '2', '-qmp', `unix:${join(dir, 'q2.sock')},server=on,wait=off`] });
  const second = await QmpClient.connect(join(vm.dir, 'q2.sock'));
  try {
    await vm.waitFor(/^UP$/m);
    for (let i = 0; i < 5; i++) {
      const replies = await Promise.all([vm.qmp, second].map((c) => c.execute<string>('human-monitor-command', { 'command-line': 'info registers 1' })));
      for (const r of replies) assert.match(r, /^\r\nCPU#1\r\nRAX=[0-9a-f]{16} [^]*\r\nEFER=[0-9a-f]{16}\r\n/, r);
    }
  } finally {
    await second.close();
    await vm.close();
  }
});

test('a guest spinning on its only vCPU: QMP answers without waiting for vCPU 0\'s time slice to end', async () => {
  // A slice of ten minutes: a request that waited for it would outlast the test. Each request
  // must take vCPU 0 out of KVM_RUN itself (the monitor's input kicks it).
  const vm = await startVmm({ vmm: 'pmemvm', script: 'echo SPINNING; while :; do :; done', args: ['-m', '256M', '-smp', '1'], env: { PMEMVM_SLICE_MS: '600000' } });
  try {
    // The client connected as soon as the socket existed, while the machine was being built
    // (its kick then found no KVM_RUN to interrupt): its greeting must not wait for the first
    // time vCPU 0 yields, at the guest's first console line.
    assert.doesNotMatch(vm.output(), /PMEMVM-GUEST-READY/, 'the QMP greeting came only once the guest printed a line');
    await vm.waitFor(/^SPINNING$/m);
    await sleep(1000);
    for (let i = 0; i < 40; i++) {
      // A bound far inside the slice, so that a broken kick fails here rather than at the suite's timeout.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((r) => { timer = setTimeout(() => r('no answer within 2 minutes'), 120_000); });
      const answer = await Promise.race([vm.qmp.execute('query-status'), late]).finally(() => clearTimeout(timer));
      assert.deepEqual(answer, { status: 'running', singlestep: false, running: true }, `request ${i}`);
    }
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});

/** KVM's per-VM statistics directory for a process (debugfs: `<pid>-<vm fd>`), or a reason it cannot be read. */
function kvmStatsDir(pid: number): string | { why: string } {
  const root = '/sys/kernel/debug/kvm';
  if (!existsSync(root)) {
    try { execFileSync('mount', ['-t', 'debugfs', 'none', '/sys/kernel/debug'], { stdio: 'ignore' }); } catch { /* reported below */ }
  }
  if (!existsSync(root)) return { why: `${root} is not there and debugfs could not be mounted (needs root)` };
  const dirs = readdirSync(root).filter((d) => d.startsWith(`${pid}-`));
  return dirs.length === 1 ? join(root, dirs[0]!) : { why: `${dirs.length} KVM VMs of process ${pid} in ${root}` };
}

test('an idle guest under back-to-back QMP: KVM never halt-polls, so kicks out of its halt spin no CPU', async (t) => {
  const vm = await startVmm({ vmm: 'pmemvm', script: 'echo IDLE; read x', args: ['-m', '256M', '-smp', '1'] });
  try {
    await vm.waitFor(/^IDLE$/m);
    const dir = kvmStatsDir(vm.child.pid!);
    if (typeof dir !== 'string') { t.skip(dir.why); return; }
    const stat = (k: string) => Number(readFileSync(join(dir, k), 'utf8'));
    const polls0 = stat('halt_attempted_poll'), halts0 = stat('halt_exits');
    // Each request kicks vCPU 0 out of the guest's halt; with polling on, the re-entries poll (measured: 109 in 500).
    for (let i = 0; i < 300; i++) await vm.qmp.execute('query-status');
    await sleep(500);
    assert.ok(stat('halt_exits') > halts0, 'the guest halted meanwhile');
    assert.equal(stat('halt_attempted_poll') - polls0, 0, 'halt polls while serving QMP');
    await vm.qmp.execute('quit');
    assert.equal(await vm.exit(), 0);
  } finally {
    await vm.close();
  }
});
