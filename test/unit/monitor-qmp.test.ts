import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { QmpSession, eventText } from '../../src/monitor/qmp-session.js';
import { FakeMachine } from '../../src/monitor/fake-machine.js';
import { COMMANDS, DURABILITY_COMMAND } from '../../src/monitor/commands.js';
import { PMEMVM_VERSION } from '../../src/monitor/version.js';

/**
 * Byte-exact vectors recorded from QEMU 7.2 (Debian 1:7.2+dfsg-7+deb12u18, `-machine none`
 * for the protocol cases, `-machine pc,nvdimm=on ...` for the query replies; the fake
 * machine holds that run's data). Deliberate differences:
 *
 * | what                       | QEMU 7.2                                | pmemvm                              |
 * |----------------------------|-----------------------------------------|-------------------------------------|
 * | greeting version/package   | micro 22, "Debian 1:7.2+dfsg-7+..."     | 7.2.0, "pmemvm <version>"           |
 * | greeting capabilities      | ["oob"]                                 | [] (no out-of-band execution)       |
 * | value past the size bound  | 64 MiB; tail of the value re-parsed     | 1 MiB; one error, tail skipped      |
 * | query-commands             | QEMU's ~200 commands                    | pmemvm's table                      |
 */
function session(machine = new FakeMachine()) {
  let out = '';
  const s = new QmpSession({ machine, write: (t) => { out += t; } });
  const send = (text: string) => { out = ''; s.feed(Buffer.from(text, 'utf8')); return out; };
  return { s, send, machine };
}

test('greeting: QEMU\'s shape, pmemvm\'s version', () => {
  const { s } = session();
  assert.equal(s.greeting(), `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "pmemvm ${PMEMVM_VERSION}"}, "capabilities": []}}\r\n`);
  const qemu = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n';
  const shape = (t: string) => t.replace(/"micro": \d+/, '"micro": N').replace(/"package": "[^"]*"/, '"package": P').replace(/\["oob"\]|\[\]/, 'CAPS');
  assert.equal(shape(s.greeting()), shape(qemu));
});

test('PMEMVM_VERSION is package.json\'s version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(PMEMVM_VERSION, pkg.version);
});

const E = (cls: string, desc: string, id?: string) =>
  id === undefined ? `{"error": {"class": "${cls}", "desc": ${JSON.stringify(desc)}}}\r\n` : `{"id": ${id}, "error": {"class": "${cls}", "desc": ${JSON.stringify(desc)}}}\r\n`;
const G = (desc: string, id?: string) => E('GenericError', desc, id);

test('negotiation, request checks and argument checks: QEMU 7.2\'s bytes', () => {
  const { send } = session();
  // Recorded from QEMU 7.2 in this order on one connection.
  const vectors: [string, string][] = [
    ['{"execute":"query-status"}', E('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'")],
    ['{"execute":"query-status","id":7}', E('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'", '7')],
    ['[]', G('QMP input must be a JSON object')],
    // QEMU offers oob, so there enabling it succeeds; pmemvm offers nothing (text from QEMU's binary).
    ['{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}', G('Capability oob not available')],
    ['{"execute":"qmp_capabilities","id":1}', '{"return": {}, "id": 1}\r\n'],
    ['{"execute":"qmp_capabilities","id":[1,{"a":null}]}', '{"id": [1, {"a": null}], "error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}\r\n'],
    ['[]', G('QMP input must be a JSON object')],
    ['1', ''],
    ['"x"', G('QMP input must be a JSON object') + G('QMP input must be a JSON object')],
    ['{"execute":1}', G("QMP input member 'execute' must be a string")],
    ['{}', G("QMP input lacks member 'execute'")],
    ['{"execute":"query-status","arguments":[]}', G("QMP input member 'arguments' must be an object")],
    ['{"execute":"query-kvm","arguments":null}', G("QMP input member 'arguments' must be an object")],
    ['{"execute":"query-status","foo":1}', G("QMP input member 'foo' is unexpected")],
    ['{"execute":"query-status","control":1}', G("QMP input member 'control' is unexpected")],
    ['{"exec-oob":"query-status"}', G("QMP input member 'exec-oob' is unexpected")],
    ['{"execute":"x","id":5,"arguments":1}', G("QMP input member 'arguments' must be an object", '5')],
    ['{"id":5}', G("QMP input lacks member 'execute'", '5')],
    ['{"execute":"nope"}', E('CommandNotFound', 'The command nope has not been found')],
    ['{"execute":"query-status","arguments":{"x":1}}', G("Parameter 'x' is unexpected")],
    ['{"execute":"object-del"}', G("Parameter 'id' is missing")],
    ['{"execute":"object-del","arguments":{"id":1}}', G("Invalid parameter type for 'id', expected: string")],
    ['{"execute":"object-add","arguments":{"id":"m3"}}', G("Parameter 'qom-type' is missing")],
    ['{"execute":"device_add","arguments":{"id":"a"}}', G("Parameter 'driver' is missing")],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"info status","cpu-index":"x"}}', G("Invalid parameter type for 'cpu-index', expected: integer")],
    ['{"execute":"object-del","arguments":{"id":"nope"}}', G("object 'nope' not found")],
    ['{"execute":"device_del","arguments":{"id":"nope"}}', E('DeviceNotFound', "Device 'nope' not found")],
    ['{"execute":"query-status","id":{"a":[1,2.5,true,null,"s"]}}', '{"return": {"status": "running", "singlestep": false, "running": true}, "id": {"a": [1, 2.5, true, null, "s"]}}\r\n'],
    ["{'execute':'query-kvm'}", '{"return": {"enabled": false, "present": true}}\r\n'],
    ['{"exec', ''],
    ['ute":"query-kvm"}', '{"return": {"enabled": false, "present": true}}\r\n'],
    ['}', G('JSON parse error, expecting value')],
    ['\x01', G("JSON parse error, stray '\\u0001'").replace('\\\\u0001', '\\u0001')],
    ['{"execute":"query-kvm","id":"é\\u00e9\\ud83d\\ude00/\\u0000\\u007f\\""}', '{"return": {"enabled": false, "present": true}, "id": "\\u00E9\\u00E9\\uD83D\\uDE00/\\u0000\\u007F\\""}\r\n'],
    ['{"execute":"query-kvm","id":{"z":1,"a":2,"return":3,"error":4,"id":5,"b":6,"c":7}}', '{"return": {"enabled": false, "present": true}, "id": {"a": 2, "b": 6, "z": 1, "return": 3, "c": 7, "id": 5, "error": 4}}\r\n'],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}', '{"return": "VM status: running\\r\\n"}\r\n'],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"nosuch"}}', '{"return": "unknown command: \'nosuch\'\\r\\n"}\r\n'],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"object_del zz"}}', '{"return": "Error: object \'zz\' not found\\r\\n"}\r\n'],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"info status x"}}', '{"return": "status: extraneous characters at the end of line\\r\\nTry \\"help info status\\" for more information\\r\\n"}\r\n'],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"info cpus","cpu-index":1}}', '{"return": "  CPU #0: thread_id=7556\\r\\n* CPU #1: thread_id=7557\\r\\n"}\r\n'],
    ['{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}', E('CommandNotFound', 'Capabilities negotiation is already complete, command ignored')],
    ['{"execute":"human-monitor-command","arguments":{"command-line":"info status","cpu-index":9}}', G("Parameter 'cpu-index' expects a CPU number")],
  ];
  for (const [input, want] of vectors) assert.equal(send(input), want, input);
});

test('query replies: QEMU 7.2\'s bytes for the same machine', () => {
  const { send } = session();
  send('{"execute":"qmp_capabilities"}');
  const vectors: [string, string][] = [
    ['query-name', '{"return": {"name": "guest1"}}'],
    ['query-cpus-fast', '{"return": [{"thread-id": 7556, "props": {"core-id": 0, "thread-id": 0, "node-id": 0, "socket-id": 0}, "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"}, {"thread-id": 7557, "props": {"core-id": 1, "thread-id": 0, "node-id": 0, "socket-id": 0}, "qom-path": "/machine/unattached/device[2]", "cpu-index": 1, "target": "x86_64"}]}'],
    ['query-memory-size-summary', '{"return": {"base-memory": 134217728, "plugged-memory": 134086656}}'],
    ['query-memory-devices', '{"return": [{"type": "nvdimm", "data": {"memdev": "/objects/mem1", "hotplugged": false, "addr": 4294967296, "hotpluggable": true, "size": 66977792, "slot": 0, "node": 0, "id": "nv1"}}, {"type": "virtio-pmem", "data": {"memdev": "/objects/mem2", "memaddr": 4361945088, "size": 67108864, "id": "vp1"}}]}'],
    ['query-memdev', '{"return": [{"share": true, "reserve": true, "prealloc": false, "host-nodes": [], "size": 67108864, "merge": true, "dump": true, "policy": "default", "id": "mem1"}, {"share": false, "reserve": true, "prealloc": false, "host-nodes": [], "size": 134217728, "merge": true, "dump": true, "policy": "default", "id": "pc.ram"}, {"share": false, "reserve": true, "prealloc": false, "host-nodes": [], "size": 67108864, "merge": true, "dump": true, "policy": "default", "id": "mem2"}]}'],
    ['query-pci', '{"return": [{"bus": 0, "devices": [{"irq_pin": 0, "bus": 0, "qdev_id": "", "slot": 0, "class_info": {"class": 1536, "desc": "Host bridge"}, "id": {"device": 4663, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 0, "regions": []}, {"irq_pin": 0, "bus": 0, "qdev_id": "", "slot": 1, "class_info": {"class": 1537, "desc": "ISA bridge"}, "id": {"device": 28672, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 0, "regions": []}, {"irq_pin": 0, "bus": 0, "qdev_id": "", "slot": 1, "class_info": {"class": 257, "desc": "IDE controller"}, "id": {"device": 28688, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 1, "regions": [{"bar": 4, "size": 16, "address": -1, "type": "io"}]}, {"irq_pin": 1, "bus": 0, "qdev_id": "", "irq": 0, "slot": 1, "class_info": {"class": 1664, "desc": "Bridge"}, "id": {"device": 28947, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 3, "regions": []}, {"irq_pin": 1, "bus": 0, "qdev_id": "vp1", "irq": 0, "slot": 2, "class_info": {"class": 255}, "id": {"device": 4187, "subsystem-vendor": 6900, "vendor": 6900, "subsystem": 4352}, "function": 0, "regions": [{"prefetch": true, "mem_type_64": true, "bar": 4, "size": 16384, "address": -1, "type": "memory"}]}]}]}'],
    ['query-chardev', '{"return": [{"frontend-open": true, "filename": "disconnected:unix:/tmp/mon/h2.sock,server=on", "label": "compat_monitor1"}, {"frontend-open": true, "filename": "unix:/tmp/mon/q2.sock,server=on", "label": "compat_monitor0"}]}'],
  ];
  for (const [cmd, want] of vectors) assert.equal(send(`{"execute":"${cmd}"}`), want + '\r\n', cmd);
  const m = new FakeMachine();
  m.state = 'prelaunch';
  const s2 = session(m);
  s2.send('{"execute":"qmp_capabilities"}');
  assert.equal(s2.send('{"execute":"query-status"}'), '{"return": {"status": "prelaunch", "singlestep": false, "running": false}}\r\n');
  assert.equal(s2.send('{"execute":"query-version"}'), `{"return": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "pmemvm ${PMEMVM_VERSION}"}}\r\n`);
});

test('events: QEMU\'s layout, only after negotiation', () => {
  assert.equal(eventText('STOP', undefined, { seconds: 1796263189, microseconds: 539408 }),
    '{"timestamp": {"seconds": 1796263189, "microseconds": 539408}, "event": "STOP"}\r\n');
  assert.equal(eventText('RESET', { guest: false, reason: 'host-qmp-system-reset' }, { seconds: 1, microseconds: 2 }),
    '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}\r\n');
  // Recorded from QEMU 7.2 (system_powerdown, quit): the event comes before the reply.
  assert.equal(eventText('POWERDOWN', undefined, { seconds: 1796264716, microseconds: 884934 }),
    '{"timestamp": {"seconds": 1796264716, "microseconds": 884934}, "event": "POWERDOWN"}\r\n');
  assert.equal(eventText('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }, { seconds: 1796264717, microseconds: 385805 }),
    '{"timestamp": {"seconds": 1796264717, "microseconds": 385805}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}\r\n');
  let events = '';
  const hubbed = new QmpSession({ machine: new FakeMachine((name, data) => hubbed.event(eventText(name, data))), write: (t) => { events += t; } });
  hubbed.feed(Buffer.from('{"execute":"qmp_capabilities"}'));
  events = '';
  hubbed.feed(Buffer.from('{"execute":"quit"}'));
  assert.match(events, /^\{"timestamp": \{[^}]*\}, "event": "SHUTDOWN", "data": \{"guest": false, "reason": "host-qmp-quit"\}\}\r\n\{"return": \{\}\}\r\n$/);
  let out = '';
  const s = new QmpSession({ machine: new FakeMachine(), write: (t) => { out += t; } });
  s.event(eventText('STOP'));
  assert.equal(out, '');
  s.feed(Buffer.from('{"execute":"qmp_capabilities"}'));
  out = '';
  s.event(eventText('STOP'));
  assert.match(out, /^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "STOP"\}\r\n$/);
});

test('commands: the whole list, object/device round trip, durability, quit after the reply', async () => {
  const { send, machine } = session();
  send('{"execute":"qmp_capabilities"}');
  const names = (JSON.parse(send('{"execute":"query-commands"}')) as { return: { name: string }[] }).return.map((c) => c.name).sort();
  for (const c of ['qmp_capabilities', 'query-version', 'query-commands', 'query-status', 'query-name', 'query-kvm', 'query-cpus-fast',
    'query-memory-size-summary', 'query-memory-devices', 'query-memdev', 'query-pci', 'query-chardev', 'chardev-send-break', 'stop', 'cont', 'system_reset',
    'system_powerdown', 'quit', 'human-monitor-command', 'object-add', 'object-del', 'device_add', 'device_del', DURABILITY_COMMAND]) {
    assert.ok(names.includes(c), c);
  }
  assert.equal(names.length, COMMANDS.length);
  // chardev-send-break: a chardev query-chardev lists, else QEMU's error.
  assert.equal(send('{"execute":"chardev-send-break","arguments":{"id":"compat_monitor0"}}'), '{"return": {}}\r\n');
  assert.deepEqual(machine.breaks, ['compat_monitor0']);
  assert.equal(send('{"execute":"chardev-send-break","arguments":{"id":"serial9"}}'), G("Chardev 'serial9' not found"));
  assert.equal(send('{"execute":"chardev-send-break"}'), G("Parameter 'id' is missing"));
  // object-add is flat; numbers and booleans reach the machine as the command line spells them.
  assert.equal(send('{"execute":"object-add","arguments":{"qom-type":"memory-backend-file","id":"mem1","mem-path":"/x","size":1073741824,"share":true}}'), '{"return": {}}\r\n');
  assert.deepEqual(machine.objects.get('mem1'), { 'qom-type': 'memory-backend-file', id: 'mem1', 'mem-path': '/x', size: '1073741824', share: 'on' });
  assert.equal(send('{"execute":"object-add","arguments":{"qom-type":"memory-backend-file","id":"mem1","size":1}}'), G("attempt to add duplicate property 'mem1' to object (type 'container')"));
  assert.equal(send('{"execute":"object-add","arguments":{"qom-type":"memory-backend-file","id":"m2","host-nodes":[0]}}'), G("Invalid parameter type for 'host-nodes', expected: string"));
  assert.equal(send('{"execute":"device_add","arguments":{"driver":"nvdimm","id":"nv2","memdev":"mem1","unarmed":false,"slot":1}}'), '{"return": {}}\r\n');
  assert.deepEqual(machine.devices.get('nv2'), { driver: 'nvdimm', id: 'nv2', memdev: 'mem1', unarmed: 'off', slot: '1' });
  assert.equal(send('{"execute":"device_del","arguments":{"id":"nv2"}}'), '{"return": {}}\r\n');
  assert.equal(send('{"execute":"object-del","arguments":{"id":"mem1"}}'), '{"return": {}}\r\n');
  assert.equal(send(`{"execute":"${DURABILITY_COMMAND}"}`), '{"return": [{"device": "nv1", "backend": "mem1", "addr": 4294967296, "driver": "nvdimm", "mode": "page-cache", "path": "/tmp/mon/nv.img", "size": 66977792, "slot": 0, "reason": "guest writes sit in the host page cache until written back", "crash-safe": false}]}\r\n');
  assert.equal(send('{"execute":"stop"}'), '{"return": {}}\r\n');
  assert.equal(machine.state, 'paused');
  assert.equal(send('{"execute":"cont","id":"c"}'), '{"return": {}, "id": "c"}\r\n');
  assert.deepEqual(machine.events.map((e) => e.name), ['STOP', 'RESUME']);
  assert.equal(send('{"execute":"quit"}'), '{"return": {}}\r\n');
  assert.equal(machine.quitCalls, 1);
  assert.deepEqual(machine.events.at(-1), { name: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } });
});

test('slow handlers: replies stay in order, input waits, errors from promises are replies', async () => {
  const machine = new FakeMachine();
  machine.delayMs = 20;
  let out = '';
  let ready = 0;
  const s = new QmpSession({ machine, write: (t) => { out += t; }, maxQueued: 2, onReady: () => { ready++; } });
  s.feed(Buffer.from('{"execute":"qmp_capabilities"}'));
  out = '';
  s.feed(Buffer.from('{"execute":"stop","id":1}{"execute":"query-kvm","id":2}{"execute":"object-add","id":3,"arguments":{"qom-type":"memory-backend-ram","id":"a"}}{"execute":"object-add","id":4,"arguments":{"qom-type":"memory-backend-ram","id":"a"}}{"execute":"query-kvm","id":5}'));
  assert.equal(out, '');
  assert.equal(s.busy, true);
  for (const end = Date.now() + 60000; !out.includes('"id": 5') && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
  assert.equal(out, [
    '{"return": {}, "id": 1}\r\n',
    '{"return": {"enabled": false, "present": true}, "id": 2}\r\n',
    '{"return": {}, "id": 3}\r\n',
    G("attempt to add duplicate property 'a' to object (type 'container')", '4'),
    '{"return": {"enabled": false, "present": true}, "id": 5}\r\n',
  ].join(''));
  assert.equal(s.busy, false);
  assert.ok(ready >= 1);
});

test('a handler that throws a non-QMP error answers GenericError and the session goes on', () => {
  const machine = new FakeMachine();
  machine.kvm = () => { throw new TypeError('boom'); };
  const { send } = session(machine);
  send('{"execute":"qmp_capabilities"}');
  assert.equal(send('{"execute":"query-kvm"}'), G('boom'));
  assert.equal(send('{"execute":"query-name"}'), '{"return": {"name": "guest1"}}\r\n');
});

test('machine bugs (a reply that is not JSON, a rejected promise) still get answers', async () => {
  const machine = new FakeMachine();
  machine.name = () => (() => 1) as unknown as string;
  machine.stop = () => Promise.reject(new Error('stop failed'));
  const { send } = session(machine);
  send('{"execute":"qmp_capabilities"}');
  assert.equal(send('{"execute":"query-name"}'), G('not JSON: function'));
  let out = '';
  const s = new QmpSession({ machine, write: (t) => { out += t; } });
  s.feed(Buffer.from('{"execute":"qmp_capabilities"}{"execute":"stop","id":1}{"execute":"query-kvm","id":2}'));
  for (const end = Date.now() + 60000; !out.includes('"id": 2') && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  assert.equal(out, '{"return": {}}\r\n' + G('stop failed', '1') + '{"return": {"enabled": false, "present": true}, "id": 2}\r\n');
});

test('random bytes never throw out of the session, and it answers afterwards', () => {
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 16; };
  const alphabet = Buffer.from('{}[]:,"\'\\ \n\tabcdefnrtu0123456789.-+eE%@\x00\x01\xc3\xa9\xff\xfe');
  for (let round = 0; round < 100; round++) {
    let out = '';
    const s = new QmpSession({ machine: new FakeMachine(), write: (t) => { out += t; } });
    const junk = Buffer.alloc(1 + (rand() % 400));
    for (let i = 0; i < junk.length; i++) junk[i] = rand() % 4 === 0 ? rand() & 0xff : alphabet[rand() % alphabet.length]!;
    s.feed(junk);
    // Control characters resynchronise the lexer; closing brackets end any open value.
    s.feed(Buffer.from('\x01' + '}'.repeat(401) + ']'.repeat(401) + '\n'));
    out = '';
    s.feed(Buffer.from('{"execute":"qmp_capabilities","id":"x"}'));
    assert.match(out, /"id": "x"/, `round ${round}`);
  }
});
