import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startMonitor, QmpEventHub, type Monitor } from '../../src/monitor/server.js';
import { FakeMachine } from '../../src/monitor/fake-machine.js';
import { QmpClient, QmpCommandError, type QmpCpuInfoFast } from '../../src/monitor/client.js';
import type { RunState } from '../../src/monitor/machine-control.js';
import { QmpClient as PublicQmpClient } from 'pmemvm/qmp';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmemvm-mon-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const sockPath = () => path.join(tmp, `m${seq++}.sock`);

/** A raw client that collects what it receives. */
function raw(p: string) {
  const sock = net.connect(p);
  let data = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  sock.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); for (const w of waiters.splice(0)) w(); });
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  const until = async (pred: (s: string) => boolean, ms = 60000) => { // generous: the suite also runs under emulation
    const end = Date.now() + ms;
    while (!pred(data.toString('latin1'))) {
      if (Date.now() > end) throw new Error(`timeout; got ${JSON.stringify(data.toString('latin1').slice(-300))}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), closed, new Promise((r) => setTimeout(r, 50))]);
    }
    return data.toString('latin1');
  };
  return { sock, until, text: () => data.toString('latin1'), reset: () => { data = Buffer.alloc(0); }, closed };
}

async function qmpMonitor(machine = new FakeMachine(), extra: Partial<Parameters<typeof startMonitor>[0]> = {}): Promise<Monitor> {
  return startMonitor({ mode: 'qmp', address: { path: sockPath() }, machine, ...extra });
}
const pathOf = (m: Monitor) => (m.address as { path: string }).path;

test('unix socket: mode 0600 at once, removed on close, fds reported, first client resolves', async () => {
  const fds: [number, boolean, string][] = [];
  const m = await qmpMonitor(new FakeMachine(), { wake: (fd, on, kind) => fds.push([fd, on, kind]) });
  // Closed whatever happens: a failed assertion must not leave the file waiting on sockets.
  let c: ReturnType<typeof raw> | undefined, d: ReturnType<typeof raw> | undefined;
  try {
    const st = fs.statSync(pathOf(m));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith('.pmemvm-sock-')), []);
    let first = false;
    void m.firstClient.then(() => { first = true; });
    c = raw(pathOf(m));
    await c.until((s) => s.includes('"QMP"'));
    assert.equal(first, true);
    // The listener wakes the main thread while no client is served; the served client always.
    assert.deepEqual(fds.map(([, on, k]) => [on, k]), [[true, 'listen'], [false, 'listen'], [true, 'client']]);
    assert.ok(fds.every(([fd]) => fd > 2));
    const listener = fds[0]![0];
    assert.equal(fds[1]![0], listener);
    // A second client waits without waking anyone; when the first leaves it is served, and when
    // it leaves too the listener wakes the thread again.
    d = raw(pathOf(m));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(fds.length, 3);
    c.sock.destroy();
    await d.until((s) => s.includes('"QMP"'));
    assert.deepEqual(fds.slice(3).map(([fd, on, k]) => [fd === listener, on, k]), [[true, false, 'listen'], [false, true, 'client']]);
    d.sock.destroy();
    for (let i = 0; i < 100 && fds.length < 6; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(fds.slice(5).map(([fd, on, k]) => [fd === listener, on, k]), [[true, true, 'listen']]);
  } finally {
    c?.sock.destroy();
    d?.sock.destroy();
    await m.close();
  }
  assert.equal(fs.existsSync(pathOf(m)), false);
});

test('a unix path too long for the private-directory detour is still 0600', async () => {
  const deep = path.join(tmp, 'd'.repeat(Math.max(1, 100 - tmp.length - 8)));
  fs.mkdirSync(deep, { recursive: true });
  const p = path.join(deep, 'q.sock');
  assert.ok(Buffer.byteLength(p) <= 107);
  const m = await startMonitor({ mode: 'qmp', address: { path: p }, machine: new FakeMachine() });
  assert.equal(fs.statSync(p).mode & 0o777, 0o600);
  const q = await QmpClient.connect(p);
  assert.deepEqual(await q.execute('query-kvm'), { enabled: false, present: true });
  await q.close();
  await m.close();
  assert.equal(fs.existsSync(p), false);
});

test('one client at a time: the next one is served when the first leaves', async () => {
  const m = await qmpMonitor();
  const a = raw(pathOf(m));
  await a.until((s) => s.includes('"QMP"'));
  const b = raw(pathOf(m));
  b.sock.write('{"execute":"qmp_capabilities"}');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(b.text(), ''); // connected, but not served
  a.sock.end();
  await b.until((s) => s.endsWith('{"return": {}}\r\n'));
  assert.match(b.text(), /^\{"QMP": .*\r\n\{"return": \{\}\}\r\n$/);
  b.sock.destroy();
  await m.close();
});

test('clients that vanish mid-command, send garbage, or send a 10 MB line', async () => {
  const machine = new FakeMachine();
  machine.delayMs = 50;
  const m = await qmpMonitor(machine);
  const a = raw(pathOf(m));
  await a.until((s) => s.includes('"QMP"'));
  a.sock.write('{"execute":"qmp_capabilities"}{"execute":"stop"}');
  await new Promise((r) => setTimeout(r, 10));
  a.sock.destroy(); // gone while stop is running
  const b = raw(pathOf(m));
  await b.until((s) => s.includes('"QMP"'));
  b.reset();
  b.sock.write(Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x7d, 0x5d]));
  b.sock.write('{"execute":"qmp_capabilities"}');
  await b.until((s) => s.includes('{"return": {}}'));
  assert.match(b.text(), /stray/);
  b.reset();
  // 10 MB in one line: answered with one error, then the connection is in step again.
  const big = Buffer.concat([Buffer.from('{"execute":"x","arguments":{"s":"'), Buffer.alloc(10 << 20, 'a'), Buffer.from('"}}\n{"execute":"query-kvm","id":"after"}\n')]);
  b.sock.write(big);
  await b.until((s) => s.includes('"id": "after"'), 300000);
  assert.equal(b.text(), '{"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}}\r\n{"return": {"enabled": false, "present": true}, "id": "after"}\r\n');
  assert.equal(machine.state, 'paused');
  b.sock.destroy();
  await m.close();
});

test('a client that vanishes mid-reply does not disturb the next one', async () => {
  const m = await qmpMonitor();
  const a = raw(pathOf(m));
  await a.until((s) => s.includes('"QMP"'));
  a.sock.write('{"execute":"qmp_capabilities"}' + '{"execute":"query-pci"}'.repeat(20000));
  await a.until((s) => s.length > 100000);
  a.sock.destroy(); // megabytes of replies still on their way
  const q = await QmpClient.connect(pathOf(m));
  assert.deepEqual(await q.execute('query-kvm'), { enabled: false, present: true });
  await q.close();
  await m.close();
});

test('HMP: input typed during a slow command waits for it, in order', async () => {
  const machine = new FakeMachine();
  machine.delayMs = 100;
  const m = await startMonitor({ mode: 'hmp', address: { path: sockPath() }, machine });
  const c = raw(pathOf(m));
  await c.until((s) => s.endsWith('(qemu) '));
  c.reset();
  c.sock.write('object_add memory-backend-ram,id=r1,size=1M\ninfo status\nobject_add memory-backend-ram,id=r1,size=1M\ninfo kvm\n');
  const text = await c.until((s) => s.includes('kvm support'));
  const plain = text.replace(/\x1b\[[0-9]*[A-Z]/g, '');
  assert.ok(plain.indexOf('VM status: running') > 0);
  assert.ok(plain.indexOf("Error: attempt to add duplicate property 'r1'") > plain.indexOf('VM status: running'));
  assert.ok(plain.indexOf('kvm support: disabled') > plain.indexOf("Error: attempt"));
  c.sock.destroy();
  await m.close();
});

test('a client that never reads: reading stops, the server stays responsive, events past the bound drop it', async () => {
  const hub = new QmpEventHub();
  const machine = new FakeMachine((name, data) => hub.emit(name, data));
  const m = await qmpMonitor(machine, { hub, maxOutputBytes: 4 << 20 });
  const other = await startMonitor({ mode: 'qmp', address: { path: sockPath() }, machine, hub });
  const lazy = raw(pathOf(m));
  await lazy.until((s) => s.includes('"QMP"'));
  lazy.sock.pause(); // never reads again
  lazy.sock.write('{"execute":"qmp_capabilities"}');
  const req = Buffer.from('{"execute":"query-pci"}'.repeat(2000));
  let written = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) {
    if (!lazy.sock.write(req)) await Promise.race([new Promise((r) => lazy.sock.once('drain', r)), new Promise((r) => setTimeout(r, 100))]);
    written += req.length;
    if (lazy.sock.writableLength > 8 << 20) break; // the server stopped reading
  }
  assert.ok(lazy.sock.writableLength > 0, 'the server should have stopped reading');
  // The other monitor answers meanwhile.
  const q = await QmpClient.connect(pathOf(other));
  assert.deepEqual(await q.execute('query-kvm'), { enabled: false, present: true });
  // Events keep coming for the lazy client too; once its unread output passes the bound it is dropped.
  const big = { blob: 'x'.repeat(64 << 10) };
  for (let i = 0; i < 200 && !lazy.sock.destroyed; i++) {
    hub.emit('BIG', big);
    await new Promise((r) => setImmediate(r));
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([lazy.closed, new Promise((_r, rej) => { timer = setTimeout(() => rej(new Error('lazy client not dropped')), 60000); })]);
  clearTimeout(timer);
  assert.ok(written > 0);
  await q.close();
  await m.close();
  await other.close();
});

test("the client is the package's public 'pmemvm/qmp' export", () => {
  assert.equal(PublicQmpClient, QmpClient);
});

test('client against the server: execute, errors, events, HMP, bigint', async () => {
  const hub = new QmpEventHub();
  const machine = new FakeMachine((name, data) => hub.emit(name, data));
  const m = await qmpMonitor(machine, { hub });
  const q = await QmpClient.connect(pathOf(m));
  assert.equal(q.greeting.QMP.version.qemu.minor, 2);
  // Typed by the command's name (qmp-types.ts): no type argument, and the fields are known.
  const status = await q.execute('query-status');
  const state: RunState = status.status; // compiles only if the reply is typed
  assert.deepEqual(status, { status: 'running', singlestep: false, running: true });
  assert.equal(state, 'running');
  const cpus = await q.execute('query-cpus-fast');
  const first: QmpCpuInfoFast | undefined = cpus[0];
  assert.equal(typeof first?.['thread-id'], 'number');
  await assert.rejects(q.execute('device_del', { id: 'nope' }), (e: unknown) => e instanceof QmpCommandError && e.errorClass === 'DeviceNotFound' && e.desc === "Device 'nope' not found");
  const it = q.events();
  const stopEv = q.waitEvent('STOP');
  await q.execute('stop');
  assert.equal((await stopEv).event, 'STOP');
  assert.equal((await it.next()).value?.event, 'STOP');
  assert.equal(await q.hmp('info status'), 'VM status: paused\r\n');
  await q.execute('object-add', { 'qom-type': 'memory-backend-ram', id: 'big', size: 1n << 60n });
  assert.equal(machine.objects.get('big')?.['size'], String(1n << 60n));
  await q.close();
  assert.equal((await it.next()).done, true);
  await m.close();
});

test('TCP on loopback and HMP over a socket', async () => {
  const m = await startMonitor({ mode: 'hmp', address: { port: 0 }, machine: new FakeMachine() });
  const a = m.address as { host: string; port: number };
  assert.equal(a.host, '127.0.0.1');
  const sock = net.connect(a.port, a.host);
  let text = '';
  sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  const end0 = Date.now() + 60000;
  while (!text.endsWith('(qemu) ') && Date.now() < end0) await new Promise((r) => setTimeout(r, 20));
  assert.equal(text, "QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) ");
  text = '';
  sock.write('info kvm\r');
  const end = Date.now() + 60000;
  while (!text.endsWith('(qemu) ') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(text.endsWith('info kvm\x1b[K\r\nkvm support: disabled\r\n(qemu) '), JSON.stringify(text));
  // A 10 MB line on HMP: echo is bounded by QEMU's 4095-byte line, and the monitor answers.
  text = '';
  sock.write(Buffer.alloc(10 << 20, 'y'));
  sock.write('\n');
  const end2 = Date.now() + 300000;
  while (!text.endsWith("'\r\n(qemu) ") && Date.now() < end2) await new Promise((r) => setTimeout(r, 50));
  assert.ok(text.endsWith(`unknown command: '${'y'.repeat(4095)}'\r\n(qemu) `));
  sock.destroy();
  await m.close();
});

test('events reach every negotiated QMP client of every monitor, the same text; a client not yet negotiated gets none', async () => {
  const hub = new QmpEventHub();
  const machine = new FakeMachine((name, data) => hub.emit(name, data));
  const unix = await qmpMonitor(machine, { hub });
  const tcp = await startMonitor({ mode: 'qmp', address: { port: 0 }, machine, hub });
  const hmp = await startMonitor({ mode: 'hmp', address: { path: sockPath() }, machine, hub });
  const a = await QmpClient.connect(pathOf(unix));
  const b = await QmpClient.connect(tcp.address as { host: string; port: number });
  const third = await qmpMonitor(machine, { hub });
  const pending = raw(pathOf(third));
  await pending.until((s) => s.includes('"QMP"'));
  pending.reset();
  const got = [a.waitEvent('STOP'), b.waitEvent('STOP')];
  await a.execute('stop');
  const [ea, eb] = await Promise.all(got);
  assert.deepEqual(ea, eb, 'one event, one timestamp');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(pending.text(), '', 'no events before qmp_capabilities');
  pending.sock.write('{"execute":"qmp_capabilities"}');
  await pending.until((s) => s.includes('{"return": {}}'));
  pending.reset();
  await b.execute('cont');
  await pending.until((s) => s.includes('"RESUME"'));
  assert.match(pending.text(), /^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "RESUME"\}\r\n$/);
  pending.sock.destroy();
  await a.close();
  await b.close();
  for (const m of [unix, tcp, hmp, third]) await m.close();
});
