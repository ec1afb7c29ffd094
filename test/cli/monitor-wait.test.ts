// pmemvm before its first boot, through the real binary: while a wait=on monitor waits
// for its client the other monitors serve, and `quit` or a signal ends pmemvm at once
// (exit 0, no boot, every socket file removed); a TCP monitor open beyond loopback is
// announced with the port actually bound. No guest boots here (the kernel is a dummy
// file), so these run on any machine with a /dev/kvm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, type QmpEvent } from '../../src/monitor/client.js';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();
const dir = mkdtempSync(join(tmpdir(), 'pmemvm-monwait-'));
const children = new Set<ReturnType<typeof spawn>>();
test.after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); // a failed test must not leave pmemvm waiting
  rmSync(dir, { recursive: true, force: true });
});
const kernel = join(dir, 'not-a-kernel');
writeFileSync(kernel, 'never read: no boot happens here\n');

/** pmemvm with `args`; resolves its exit code and stderr. PVM's slow /dev/kvm is fine: nothing runs. */
function start(args: string[]) {
  const child = spawn(process.execPath, [...PMEMVM, '-kernel', kernel, '-m', '128M', '-serial', 'null', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1' },
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = async (what: () => boolean, label: string) => {
    for (const end = Date.now() + 60_000; !what();) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`no ${label}; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const exit = async () => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try { return await exited; } finally { clearTimeout(timer); }
  };
  return { child, stderr: () => stderr, waitFor, exit };
}

test('quit while a wait=on monitor waits for its client: exit 0 without a boot, both sockets removed', async () => {
  const q = join(dir, 'q.sock'), h = join(dir, 'h.sock');
  const vm = start(['-qmp', `unix:${q},server=on,wait=off`, '-monitor', `unix:${h},server,wait=on`]);
  await vm.waitFor(() => existsSync(q) && existsSync(h), 'monitor sockets');
  const qmp = await QmpClient.connect(q);
  const events: QmpEvent[] = [];
  qmp.onEvent((e) => events.push(e));
  assert.deepEqual(await qmp.execute('query-name'), {});
  // Nothing runs yet: QEMU's state before the first boot.
  assert.deepEqual(await qmp.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false });
  await qmp.execute('quit');
  assert.equal(await vm.exit(), 0, vm.stderr());
  assert.deepEqual(events.map((e) => [e.event, e.data]), [['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }]]);
  assert.equal(vm.stderr(), '', 'no boot was tried');
  assert.ok(!existsSync(q) && !existsSync(h), 'socket files removed');
  await qmp.close();
});

test('SIGTERM while waiting for the first client: exit 0, socket removed', async () => {
  const q = join(dir, 'q2.sock');
  const vm = start(['-qmp', `unix:${q},server=on`]); // wait=on by default
  await vm.waitFor(() => existsSync(q), 'the QMP socket');
  vm.child.kill('SIGTERM');
  assert.equal(await vm.exit(), 0, vm.stderr());
  assert.equal(vm.stderr(), 'pmemvm: terminating on signal SIGTERM\n');
  assert.ok(!existsSync(q), 'socket file removed');
});

test('a TCP monitor beyond loopback is announced with its bound port; loopback is not', async () => {
  const vm = start(['-qmp', 'tcp:0.0.0.0:0,server=on,wait=on', '-monitor', 'tcp:127.0.0.1:0,server=on,wait=off']);
  const warning = /^pmemvm: warning: -qmp tcp:0\.0\.0\.0:0,server=on,wait=on: the monitor listens on every address, so other machines can reach it: whoever reaches port (\d+) controls the guest \(use 127\.0\.0\.1 to keep it local\)\n$/;
  await vm.waitFor(() => vm.stderr().endsWith('\n'), 'the warning');
  const port = Number(warning.exec(vm.stderr())?.[1]);
  assert.ok(port > 0, vm.stderr());
  vm.child.kill('SIGTERM');
  assert.equal(await vm.exit(), 0);
});

test('-qmp stdio: 3000 requests written at once are answered in order, then quit ends pmemvm', async () => {
  // stdin is fed like a socket client (src/monitor/input-pump.ts): in slices, a budget per
  // event-loop turn, the rest on later turns. Nothing may be lost, doubled or reordered.
  const h = join(dir, 'h3.sock');
  const child = spawn(process.execPath, [...PMEMVM, '-kernel', kernel, '-m', '128M', '-serial', 'null', '-qmp', 'stdio', '-monitor', `unix:${h},server,wait=on`], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1' },
  });
  children.add(child);
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const n = 3000;
  child.stdin!.end('{"execute":"qmp_capabilities"}\n' + Array.from({ length: n }, (_, i) => `{"execute":"query-name","id":${i}}\n`).join('') + '{"execute":"quit","id":"q"}\n');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, err);
  const lines = out.split('\r\n');
  assert.match(lines[0]!, /^\{"QMP": /);
  assert.equal(lines[1], '{"return": {}}');
  assert.deepEqual(lines.slice(2, 2 + n), Array.from({ length: n }, (_, i) => `{"return": {}, "id": ${i}}`));
  assert.match(lines[2 + n]!, /"event": "SHUTDOWN"/);
  assert.deepEqual(lines.slice(3 + n), ['{"return": {}, "id": "q"}', '']);
});
