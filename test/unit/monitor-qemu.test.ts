/**
 * Differential tests against the real QEMU 7.2 (installed by the project's setup, so these
 * never skip): the same inputs go to QEMU `-machine none` and to pmemvm's sessions with a
 * fake machine, and the replies must match byte for byte. The fake machine answers
 * query-kvm and info status as QEMU -machine none does (KVM present but unused, running).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { QmpSession } from '../../src/monitor/qmp-session.js';
import { HmpSession } from '../../src/monitor/hmp-session.js';
import { FakeMachine } from '../../src/monitor/fake-machine.js';
import { QmpClient, QmpCommandError } from '../../src/monitor/client.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmemvm-qemu-'));
const qmpPath = path.join(dir, 'qmp.sock');
const hmpPath = path.join(dir, 'hmp.sock');
const qmp2Path = path.join(dir, 'qmp2.sock');
let qemu: ChildProcess;

before(async () => {
  qemu = spawn('qemu-system-x86_64', ['-machine', 'none', '-nodefaults', '-display', 'none',
    '-qmp', `unix:${qmpPath},server=on,wait=off`, '-qmp', `unix:${qmp2Path},server=on,wait=off`,
    '-monitor', `unix:${hmpPath},server=on,wait=off`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const end = Date.now() + 120000; // the suite also runs under emulation
  while (!(fs.existsSync(qmpPath) && fs.existsSync(hmpPath) && fs.existsSync(qmp2Path))) {
    if (Date.now() > end || qemu.exitCode !== null) throw new Error(`QEMU did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // QEMU's sockets exist before its start-up ends with vm_start, whose RESUME event can reach
  // a QMP client that connected early (seen once in CI, ahead of the first reply). HMP is
  // served only from the main loop, after vm_start: once it says running, RESUME is past.
  const h = connectRaw(hmpPath);
  await h.until('(qemu) ');
  h.sock.write('info status\n');
  await h.until('VM status: running');
  h.sock.destroy();
});

after(() => {
  if (qemu.exitCode === null) qemu.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A raw connection that can wait for a marker in what it received. */
function connectRaw(p: string) {
  const sock = net.connect(p);
  let data = '';
  sock.on('data', (d: Buffer) => { data += d.toString('latin1'); });
  return {
    sock,
    /** Everything up to `marker`, or with `thenEol` up to the end of the line holding it. */
    async until(marker: string, thenEol = false): Promise<string> {
      const end = Date.now() + 60000;
      const find = () => {
        const at = data.indexOf(marker);
        if (at < 0) return -1;
        if (!thenEol) return at + marker.length;
        const eol = data.indexOf('\r\n', at);
        return eol < 0 ? -1 : eol + 2;
      };
      while (find() < 0) {
        if (Date.now() > end) throw new Error(`no ${JSON.stringify(marker)} in ${JSON.stringify(data.slice(-500))}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const i = find();
      const got = data.slice(0, i);
      data = data.slice(i);
      return got;
    },
  };
}

// Inputs sent one after the other on one connection; each must leave the stream in a
// state where the next complete request is read (the sentinel after it checks that).
const QMP_INPUTS: string[] = [
  '{"execute":"query-status"}',
  '{"execute":"query-status","id":7}',
  '[]', '"x"', '12 ', '{}', '{"execute":1}',
  '{"execute":"qmp_capabilities","arguments":{"x":1}}',
  '{"execute":"qmp_capabilities","arguments":{"enable":["x"]}}',
  '{"execute":"qmp_capabilities","arguments":{"enable":[1]}}',
  '{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}',
  '{"execute":"qmp_capabilities","id":1}',
  '{"execute":"qmp_capabilities","id":[1,{"a":null}]}',
  '[]', '1 ', '"x"', 'true ', 'null ', '{"execute":1}', '{}',
  '{"execute":"query-kvm","arguments":[]}', '{"execute":"query-kvm","arguments":null}',
  '{"execute":"query-kvm","foo":1}', '{"execute":"query-kvm","control":1}', '{"exec-oob":"query-kvm"}',
  '{"execute":"x","id":5,"arguments":1}', '{"id":5}', '{"id":5,"foo":1,"bar":2,"arguments":[]}',
  '{"execute":"nope"}', '{"execute":"nope","id":"n"}',
  '{"execute":"query-kvm","arguments":{"x":1}}',
  '{"execute":"object-del"}', '{"execute":"object-del","arguments":{"id":1}}', '{"execute":"object-del","arguments":{"id":true}}',
  '{"execute":"object-del","arguments":{"id":"nope"}}', '{"execute":"device_del","arguments":{"id":"nope"}}',
  '{"execute":"object-del","arguments":{"id":"nope","x":1}}',
  '{"execute":"object-add","arguments":{"id":"m3"}}', '{"execute":"device_add","arguments":{"id":"a"}}',
  '{"execute":"human-monitor-command"}',
  '{"execute":"human-monitor-command","arguments":{"command-line":1}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status","cpu-index":"x"}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status","cpu-index":1.5}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status","cpu-index":18446744073709551615}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info kvm"}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"nosuch"}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"object_del zz"}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status x"}}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"help object_add"}}',
  '{"execute":"query-kvm","id":{"a":[1,2.5,true,null,"s"]}}',
  '{"execute":"query-kvm","id":[1e30,1.5e300,-0,-0.0,18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809,1E2,3.0,1e17,1e-5,0.0001,123456789012345678]}',
  '{"execute":"query-kvm","id":"é\\u00e9\\ud83d\\ude00/\\u0000\\u007f\\""}',
  '{"execute":"query-kvm","id":{"z":1,"a":2,"return":3,"error":4,"id":5,"b":6,"c":7,"qemu":8,"QMP":9,"event":10}}',
  "{'execute':'query-kvm','id':'single \"quoted\"'}",
  '}', ']', '\x01', '{"id":"a\x01"}', '{"id":"\\q"}', '{"id":"\\uZZZZ"}', '{"id":"\\ud800"}', '{"id":"\\uFFFE"}',
  '{"id":"\u00ff\u00fe"}', 'tru ', 'nul1 ', '{"execute" "x"}', '{"execute":"q",}', '{"execute":"q","execute":"x"}',
  '[1,]', '{1:2}', '{"a":1 "b"}', '[1 2]', '{"execute":"query-kvm"}]', '{"execute":"q" @ "x"}', '@@@ {"execute":"query-kvm"}',
  'ABC{"execute":"query-kvm"}', '01 -a 1.e5 ', '{"execute":"query-kvm","id":"\\u0041"}',
  '\t\r\n {"execute":"query-kvm"}\n\n',
];

test('QMP: malformed input and argument errors answer exactly as QEMU 7.2 does', async () => {
  const q = connectRaw(qmpPath);
  await q.until('\r\n'); // greeting
  let out = '';
  const s = new QmpSession({ machine: new FakeMachine(), write: (t) => { out += t; } });
  for (const [i, input] of QMP_INPUTS.entries()) {
    const sentinel = `{"execute":"query-kvm","id":"sync-${i}"}`;
    const bytes = Buffer.from(`${input}\n${sentinel}\n`, 'utf8');
    q.sock.write(bytes);
    const fromQemu = await q.until(`"sync-${i}"`, true);
    out = '';
    s.feed(bytes);
    assert.equal(Buffer.from(out, 'utf8').toString('latin1'), fromQemu, `input ${JSON.stringify(input)}`);
  }
  q.sock.destroy();
});

const HMP_LINES = ['info status', 'info kvm', 'nosuch', 'info nosuch', '  info   nosuch', 'info/status', 'info status extra',
  'object_del', 'object_del x', 'object_del "a b" ', 'object_del "a', 'object_del a b', 'device_del', 'device_del x', 'device_add',
  'help object_add', 'help info status', 'help info nosuch', 'help nosuch', 'help c', 'help q', 'help s', 'q x', '', 'c', 'cont',
  'ab\x7fc', 'zz\x01y\x05', 'info name\n\x1b[A\x1b[D\x1b[D\x7f', 'zq\r'];

test('HMP: echo, prompts and texts match QEMU 7.2 byte for byte', async () => {
  const h = connectRaw(hmpPath);
  const banner = await h.until('(qemu) ');
  assert.equal(banner.replace(/7\.2\.\d+/, '7.2.0'), "QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) ");
  const chunks: Buffer[] = [];
  const machine = new FakeMachine();
  machine.vmName = undefined; // QEMU runs without -name here
  const s = new HmpSession({ machine, write: (d) => chunks.push(d) });
  for (const [i, line] of HMP_LINES.entries()) {
    const bytes = Buffer.from(`${line}\n`, 'latin1');
    // Count the prompts the input produces: one per Enter.
    const enters = [...bytes].filter((b) => b === 10 || b === 13).length;
    h.sock.write(bytes);
    let fromQemu = '';
    for (let k = 0; k < enters; k++) fromQemu += await h.until('(qemu) ');
    chunks.length = 0;
    s.feed(bytes);
    assert.equal(Buffer.concat(chunks).toString('latin1'), fromQemu, `line ${i}: ${JSON.stringify(line)}`);
  }
  h.sock.destroy();
});

test('QmpClient against QEMU: greeting, commands, errors, events, HMP, quit', async () => {
  const q = await QmpClient.connect(qmp2Path);
  assert.equal(q.greeting.QMP.version.qemu.major, 7);
  assert.deepEqual(await q.execute('query-status'), { status: 'running', singlestep: false, running: true });
  await assert.rejects(q.execute('device_del', { id: 'nope' }), (e: unknown) =>
    e instanceof QmpCommandError && e.errorClass === 'DeviceNotFound' && e.desc === "Device 'nope' not found");
  await assert.rejects(q.execute('nope'), (e: unknown) => e instanceof QmpCommandError && e.errorClass === 'CommandNotFound');
  const stop = q.waitEvent('STOP');
  await q.execute('stop');
  assert.equal((await stop).event, 'STOP');
  assert.equal(await q.hmp('info status'), 'VM status: paused\r\n');
  await q.execute('cont');
  const closed = new Promise<void>((r) => qemu.once('exit', () => r()));
  await q.execute('quit');
  await closed;
  await q.close();
});
