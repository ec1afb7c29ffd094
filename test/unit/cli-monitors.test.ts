import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../src/cli/options.js';
import { validateOptions } from '../../src/cli/validate.js';
import { readChardev } from '../../src/cli/chardev.js';
import {
  connectedFilename, disconnectedFilename, exposedMonitorWarning, monitorLabels, resolveChardevs, resolveMonitors, serialChardev,
} from '../../src/cli/monitors.js';
import { HELP_TEXT } from '../../src/cli/options.js';
import { UserError } from '../../src/errors.js';

const args = (line: string) => line.split(' ').filter(Boolean);
const parse = (line: string) => parseArgs(args(line));
/** Parsed and validated, as a run does before resolving. */
const checked = (line: string) => { const o = parse(line); validateOptions(o); return o; };

/** The one-line UserError message of parsing plus validating. */
function error(line: string): string {
  try {
    checked(line);
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${e}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail(`no error for ${line}`);
}

const UNIX = (p: string) => `unix:${p},server=on,wait=off`;

test('-qmp/-monitor tcp: HOST:PORT, empty host, short forms, wait default on', () => {
  assert.deepEqual(parse('-qmp tcp:127.0.0.1:4444,server=on,wait=off').monitors, [
    { protocol: 'qmp', endpoint: { kind: 'tcp', host: '127.0.0.1', port: 4444, server: true, wait: false }, option: '-qmp', source: '-qmp tcp:127.0.0.1:4444,server=on,wait=off' },
  ]);
  assert.deepEqual(parse('-monitor tcp::4445,server,nowait').monitors[0].endpoint, { kind: 'tcp', host: '', port: 4445, server: true, wait: false });
  assert.deepEqual(parse('-qmp tcp:localhost:0,server').monitors[0].endpoint, { kind: 'tcp', host: 'localhost', port: 0, server: true, wait: true });
  assert.deepEqual(parse('-qmp tcp:h:65535,server=on').monitors[0].endpoint, { kind: 'tcp', host: 'h', port: 65535, server: true, wait: true });
  assert.deepEqual(parse('-qmp tcp::0x10,server=on').monitors[0].endpoint, { kind: 'tcp', host: '', port: 16, server: true, wait: true });
});

test('-mon: implied chardev, default mode readline, control is QMP, id and pretty=off accepted', () => {
  assert.deepEqual(parse('-mon c0').monitors, [{ protocol: 'hmp', endpoint: { kind: 'chardev', id: 'c0' }, option: '-mon', source: '-mon c0' }]);
  assert.deepEqual(parse('-mon chardev=c1,mode=control,pretty=off').monitors,
    [{ protocol: 'qmp', endpoint: { kind: 'chardev', id: 'c1' }, option: '-mon', source: '-mon chardev=c1,mode=control,pretty=off' }]);
  // libvirt's spelling
  assert.equal(parse('-mon chardev=charmonitor,id=monitor,mode=control').monitors[0].protocol, 'qmp');
  assert.equal(parse('-mon chardev=c,mode=readline').monitors[0].protocol, 'hmp');
});

test('-nic none, -net none, -vga none ask for nothing', () => {
  assert.deepEqual(parse('-nic none -net none -vga none'), parse(''));
});

test('readChardev: socket (unix, tcp), stdio, null', () => {
  const read = (arg: string) => readChardev(parse(`-chardev ${arg}`).chardevs[0]);
  assert.deepEqual(read('socket,id=q,path=/tmp/q.sock,server=on,wait=off'),
    { backend: 'socket', id: 'q', address: { kind: 'unix', path: '/tmp/q.sock' }, wait: false, arg: 'socket,id=q,path=/tmp/q.sock,server=on,wait=off' });
  assert.deepEqual(read('socket,id=t,host=127.0.0.1,port=4444,server,nowait'),
    { backend: 'socket', id: 't', address: { kind: 'tcp', host: '127.0.0.1', port: 4444 }, wait: false, arg: 'socket,id=t,host=127.0.0.1,port=4444,server,nowait' });
  assert.deepEqual(read('socket,id=t,host=,port=0,server=on'),
    { backend: 'socket', id: 't', address: { kind: 'tcp', host: '', port: 0 }, wait: true, arg: 'socket,id=t,host=,port=0,server=on' });
  assert.deepEqual(read('stdio,id=s'), { backend: 'stdio', id: 's', mux: false, signal: true, arg: 'stdio,id=s' });
  assert.deepEqual(read('stdio,id=s,mux=on,signal=off'), { backend: 'stdio', id: 's', mux: true, signal: false, arg: 'stdio,id=s,mux=on,signal=off' });
  assert.deepEqual(read('null,id=n'), { backend: 'null', id: 'n', arg: 'null,id=n' });
});

test('monitor, chardev and device option errors, exact text', () => {
  const cases: [string, string][] = [
    // QEMU's default without server is a client socket: "Failed to connect to '/q': No such file or directory"
    ['-qmp unix:/q', "-qmp unix:/q: without server=on, QEMU connects to an existing socket as a client, and pmemvm only listens; add server=on (e.g. unix:/tmp/qmp.sock,server=on,wait=off)"],
    ['-monitor unix:/q,server=off', "-monitor unix:/q,server=off: server=off asks to connect to an existing socket as a client, and pmemvm only listens; add server=on (e.g. unix:/tmp/qmp.sock,server=on,wait=off)"],
    ['-qmp unix:/q,noserver', "-qmp unix:/q,noserver: server=off asks to connect to an existing socket as a client, and pmemvm only listens; add server=on (e.g. unix:/tmp/qmp.sock,server=on,wait=off)"],
    ['-qmp unix:/q,server=maybe', "-qmp unix:/q,server=maybe: property 'server' must be on or off, not 'maybe'"],
    ['-qmp tcp::4444', '-qmp tcp::4444: without server=on, QEMU connects to an existing socket as a client, and pmemvm only listens; add server=on (e.g. tcp:127.0.0.1:4444,server=on,wait=off)'],
    // QEMU: "parse error: tcp:127.0.0.1,server=on,wait=off"
    ['-qmp tcp:127.0.0.1,server=on', '-qmp tcp:127.0.0.1,server=on: expected tcp:HOST:PORT or tcp::PORT (e.g. tcp:127.0.0.1:4444,server=on,wait=off)'],
    ['-qmp tcp:', '-qmp tcp:: expected tcp:HOST:PORT or tcp::PORT (e.g. tcp:127.0.0.1:4444,server=on,wait=off)'],
    // QEMU 7.2 accepts 99999 (and service names); a TCP port is 0-65535
    ['-qmp tcp::99999,server=on', "-qmp tcp::99999,server=on: property 'port' must be an integer from 0 to 65535, not '99999'"],
    ['-qmp tcp::ssh,server=on', "-qmp tcp::ssh,server=on: property 'port' must be an integer from 0 to 65535, not 'ssh'"],
    ['-qmp tcp:[::1]:4444,server=on', '-qmp tcp:[::1]:4444,server=on: tcp: cannot take a bracketed IPv6 address (QEMU cannot either); use -chardev socket,id=mon0,host=::1,port=4444,server=on,wait=off and -mon chardev=mon0'],
    ['-qmp tcp::4444,server=on,nodelay', "-qmp tcp::4444,server=on,nodelay: unknown property 'delay' (from 'nodelay', which QEMU syntax reads as delay=off); a tcp: socket (after HOST:PORT) takes: server, wait"],
    ['-qmp tcp::4444,server=on,host=x', "-qmp tcp::4444,server=on,host=x: unknown property 'host'; a tcp: socket (after HOST:PORT) takes: server, wait"],
    // QEMU: "Parameter 'chardev' is missing"
    ['-mon mode=control', '-mon mode=control: missing chardev= (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off -mon chardev=mon0,mode=control)'],
    // QEMU: "Parameter 'mode' does not accept value 'bad'"
    ['-mon c,mode=bad', "-mon c,mode=bad: property 'mode' must be readline (human monitor) or control (QMP), not 'bad'"],
    // QEMU: "'pretty' is not compatible with HMP monitors"
    ['-mon c,pretty=on', '-mon c,pretty=on: pretty=on is only for QMP (mode=control), not the human monitor'],
    ['-mon c,mode=control,pretty=on', "-mon c,mode=control,pretty=on: pretty=on is not supported (pmemvm's QMP sends each reply on one line, which every QMP client reads); leave out pretty"],
    ['-mon c,pretty=x', "-mon c,pretty=x: property 'pretty' must be on or off, not 'x'"],
    // QEMU: "Invalid parameter 'bogus'"
    ['-mon c,bogus=1', "-mon c,bogus=1: unknown property 'bogus'; -mon takes: chardev, mode, pretty"],
    ['-mon c,id=9', "-mon c,id=9: invalid id '9' (an id consists of letters, digits, '-', '.', '_' and starts with a letter)"],
    ['-nic user', '-nic user: pmemvm has no network devices; use -nic none, or leave it out'],
    ['-net nic', '-net nic: pmemvm has no network devices; use -net none, or leave it out'],
    ['-vga std', '-vga std: pmemvm has no display devices; use -vga none, or leave it out'],
    // typed -chardev (validateOptions); QEMU: "Invalid parameter 'bogus'"
    ['-chardev null,id=n,bogus=1', "-chardev null,id=n,bogus=1: unknown property 'bogus'; a null chardev (besides id) takes none"],
    ['-chardev stdio,id=s,logfile=/l', "-chardev stdio,id=s,logfile=/l: unknown property 'logfile'; a stdio chardev (besides id) takes: mux, signal"],
    ['-chardev stdio,id=s,mux=2', "-chardev stdio,id=s,mux=2: property 'mux' must be on or off, not '2'"],
    ['-chardev socket,id=c,path=/q,server=on,reconnect=1', "-chardev socket,id=c,path=/q,server=on,reconnect=1: unknown property 'reconnect'; a socket chardev (besides id) takes: path, host, port, server, wait"],
    ['-chardev socket,id=c,path=/q,server=on,mux=on', "-chardev socket,id=c,path=/q,server=on,mux=on: unknown property 'mux'; a socket chardev (besides id) takes: path, host, port, server, wait"],
    ['-chardev socket,id=c,path=/q', '-chardev socket,id=c,path=/q: without server=on, QEMU connects to an existing socket as a client, and pmemvm only listens; add server=on (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off)'],
    ['-chardev socket,id=c,path=/q,server=off,wait=off', '-chardev socket,id=c,path=/q,server=off,wait=off: server=off asks to connect to an existing socket as a client, and pmemvm only listens; add server=on (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off)'],
    // QEMU: "chardev: socket: no port given" / "None or one of 'path', 'fd' or 'host' option required."
    ['-chardev socket,id=c,host=127.0.0.1,server=on', '-chardev socket,id=c,host=127.0.0.1,server=on: a socket needs path=PATH, or host=HOST,port=PORT (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off)'],
    ['-chardev socket,id=c,server=on', '-chardev socket,id=c,server=on: a socket needs path=PATH, or host=HOST,port=PORT (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off)'],
    ['-chardev socket,id=c,path=/q,host=h,port=1,server=on', '-chardev socket,id=c,path=/q,host=h,port=1,server=on: give either path= (unix socket) or host= and port= (TCP), not both'],
    ['-chardev socket,id=c,path=,server=on', '-chardev socket,id=c,path=,server=on: path= is empty (e.g. -chardev socket,id=mon0,path=/tmp/qmp.sock,server=on,wait=off)'],
    ['-chardev socket,id=c,host=h,port=65536,server=on', "-chardev socket,id=c,host=h,port=65536,server=on: property 'port' must be an integer from 0 to 65535, not '65536'"],
    ['-chardev file,id=f,path=/l', "-chardev file,id=f,path=/l: unsupported chardev backend 'file' (pmemvm has socket, stdio and null)"],
  ];
  for (const [line, want] of cases) assert.equal(error(line), want, line);
});

test('cross-option rules: chardev ids, frontends, null, stdio, socket addresses', () => {
  const cases: [string, string][] = [
    // QEMU: 'chardev "nope" not found'
    ['-mon chardev=nope,mode=control', "-mon chardev=nope,mode=control: no -chardev with id 'nope'"],
    // QEMU accepts it; a monitor on null could never be reached
    ['-chardev null,id=n -qmp chardev:n', "-qmp chardev:n: chardev 'n' is a null chardev, which a monitor can neither read nor answer on; use a socket or stdio chardev"],
    // QEMU: "Device 's' is in use" / "Duplicate ID 's' for mon"
    [`-chardev socket,id=s,path=/q,server=on,wait=off -mon s -mon s,mode=control`, "-mon s,mode=control: chardev 's' is already used by -mon s; give each its own -chardev"],
    ['-chardev stdio,id=s -serial chardev:s -mon s', "-mon s: chardev 's' is already used by -serial chardev:s; add mux=on to -chardev stdio,id=s to share it (Ctrl-A c switches)"],
    [`-chardev socket,id=s,path=/q,server=on -qmp chardev:s -qmp chardev:s`, "-qmp chardev:s: chardev 's' is already used by -qmp chardev:s; give each its own -chardev"],
    // QEMU: MAX_MUX 4, then "Device 's' is in use"
    ['-chardev stdio,id=s,mux=on -serial chardev:s -mon s -mon s -mon s -mon s', "-mon s: chardev 's' already serves 4 frontends (-serial chardev:s, -mon s, -mon s, -mon s), the most a mux takes"],
    // QEMU listens on it anyway
    ['-chardev socket,id=q,path=/q,server=on,wait=off', '-chardev socket,id=q,path=/q,server=on,wait=off: nothing uses this socket; add -mon chardev=q,mode=control (QMP) or -mon chardev=q (human monitor), or leave it out'],
    // QEMU: "cannot use stdio by multiple character devices"
    ['-chardev stdio,id=a -chardev stdio,id=b', '-chardev stdio,id=b: stdio is already used by -chardev stdio,id=a; only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)'],
    ['-chardev stdio,id=s,mux=on -mon s -nographic', '-serial stdio: stdio is already used by -chardev stdio,id=s,mux=on (-nographic puts the serial port on stdio unless -serial says otherwise); only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)'],
    ['-qmp stdio -monitor stdio', '-monitor stdio: stdio is already used by -qmp stdio; only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)'],
    // QEMU lets the second listener unlink the first's socket
    [`-qmp ${UNIX('/q')} -monitor ${UNIX('/q')}`, "-monitor unix:/q,server=on,wait=off: socket path '/q' is already used by -qmp unix:/q,server=on,wait=off; give each socket its own path"],
    [`-chardev socket,id=c,path=/q,server=on -mon c -qmp ${UNIX('/q')}`, "-qmp unix:/q,server=on,wait=off: socket path '/q' is already used by -chardev socket,id=c,path=/q,server=on; give each socket its own path"],
    ['-qmp tcp::4444,server=on -monitor tcp:127.0.0.1:4444,server=on', '-monitor tcp:127.0.0.1:4444,server=on: TCP port 4444 is already used by -qmp tcp::4444,server=on; give each socket its own port (or port 0 for any free one)'],
    ['-chardev socket,id=c,host=::1,port=5,server=on -mon c -qmp tcp::5,server=on', "-qmp tcp::5,server=on: TCP port 5 is already used by -chardev socket,id=c,host=::1,port=5,server=on; give each socket its own port (or port 0 for any free one)"],
    // QEMU: "Duplicate ID 'compat_monitor0' for chardev"
    [`-chardev null,id=compat_monitor0 -qmp ${UNIX('/q')}`, "-chardev null,id=compat_monitor0: id 'compat_monitor0' is the name QEMU gives the chardev of -qmp unix:/q,server=on,wait=off; choose another id"],
  ];
  for (const [line, want] of cases) assert.equal(error(line), want, line);
  // distinct addresses, port 0 twice, different hosts on one port, a mux shared by serial and two monitors: all fine
  for (const line of [
    `-qmp ${UNIX('/a')} -monitor ${UNIX('/b')}`,
    '-qmp tcp::0,server=on -monitor tcp::0,server=on',
    '-qmp tcp:127.0.0.1:4444,server=on -monitor tcp:127.0.0.2:4444,server=on',
    '-chardev stdio,id=s,mux=on,signal=off -serial chardev:s -mon s -mon s,mode=control',
    '-chardev null,id=n -serial chardev:n',
    '-nic none -net none -vga none',
  ]) assert.doesNotThrow(() => checked(line), line);
});

test('resolveMonitors: QEMU 7.2 labels and filenames (checked against qemu-system-x86_64 7.2)', () => {
  // qemu ... -qmp unix:/tmp/x.sock,server=on,wait=off -monitor unix:/tmp/y.sock,server=on,wait=off
  assert.deepEqual(resolveMonitors(checked(`-qmp ${UNIX('/tmp/x.sock')} -monitor ${UNIX('/tmp/y.sock')}`)), [
    { protocol: 'qmp', where: { kind: 'unix', path: '/tmp/x.sock' }, wait: false, mux: false, label: 'compat_monitor0', filename: 'disconnected:unix:/tmp/x.sock,server=on', source: '-qmp unix:/tmp/x.sock,server=on,wait=off' },
    { protocol: 'hmp', where: { kind: 'unix', path: '/tmp/y.sock' }, wait: false, mux: false, label: 'compat_monitor1', filename: 'disconnected:unix:/tmp/y.sock,server=on', source: '-monitor unix:/tmp/y.sock,server=on,wait=off' },
  ]);
  // tcp: an empty host listens on (and is shown as) loopback, where QEMU takes 0.0.0.0; wait defaults to on
  assert.deepEqual(resolveMonitors(checked('-qmp tcp::4445,server=on')), [
    { protocol: 'qmp', where: { kind: 'tcp', host: '127.0.0.1', port: 4445 }, wait: true, mux: false, label: 'compat_monitor0', filename: 'disconnected:tcp:127.0.0.1:4445,server=on', source: '-qmp tcp::4445,server=on' },
  ]);
  assert.equal(resolveMonitors(checked('-qmp tcp:127.0.0.1:4444,server=on,wait=off'))[0].filename, 'disconnected:tcp:127.0.0.1:4444,server=on');
  // chardev:ID takes a compat number (vl.c monitor_parse), -mon and 'none' do not
  const o = checked(`-chardev null,id=n1 -serial chardev:n1 -chardev socket,id=q1,path=/tmp/c.sock,server=on,wait=off -qmp chardev:q1 -monitor none -mon chardev=h1 -chardev socket,id=h1,host=127.0.0.1,port=4447,server=on -monitor ${UNIX('/tmp/m.sock')}`);
  assert.deepEqual(monitorLabels(o), ['q1', 'h1', 'compat_monitor1']);
  assert.deepEqual(resolveMonitors(o).map((m) => [m.protocol, m.label, m.filename, m.wait, m.where]), [
    ['qmp', 'q1', 'disconnected:unix:/tmp/c.sock,server=on', false, { kind: 'unix', path: '/tmp/c.sock' }],
    ['hmp', 'h1', 'disconnected:tcp:127.0.0.1:4447,server=on', true, { kind: 'tcp', host: '127.0.0.1', port: 4447 }],
    ['hmp', 'compat_monitor1', 'disconnected:unix:/tmp/m.sock,server=on', false, { kind: 'unix', path: '/tmp/m.sock' }],
  ]);
  // -nographic (pc): serial0 = mux over serial0-base = stdio; the HMP monitor is a frontend of serial0
  assert.deepEqual(resolveMonitors(checked('-nographic')), [
    { protocol: 'hmp', where: { kind: 'stdio' }, wait: false, mux: true, label: 'serial0', filename: 'mux', source: '-nographic' },
  ]);
  // -nographic -serial null: compat_monitor0 = stdio, serial0 = null
  assert.deepEqual(resolveMonitors(checked('-nographic -serial null')), [
    { protocol: 'hmp', where: { kind: 'stdio' }, wait: false, mux: false, label: 'compat_monitor0', filename: 'stdio', source: '-nographic' },
  ]);
  // -serial none takes a number (QEMU 7.2: serial1 => null, serial2 => mux, serial2-base => stdio)
  assert.deepEqual(resolveMonitors(checked('-serial none -serial null -serial mon:stdio')).map((m) => [m.label, m.filename, m.mux, m.source]),
    [['serial2', 'mux', true, '-serial mon:stdio']]);
  assert.deepEqual(resolveChardevs(checked('-serial none -serial null -serial mon:stdio')).map((c) => `${c.label}=${c.filename}`),
    ['serial1=null', 'serial2=mux', 'serial2-base=stdio']);
  // -chardev stdio,mux=on shared by the serial port and two monitors
  assert.deepEqual(resolveMonitors(checked('-chardev stdio,id=s1,mux=on,signal=off -serial chardev:s1 -mon chardev=s1 -mon s1,mode=control')).map((m) => [m.protocol, m.where, m.mux, m.label, m.filename]), [
    ['hmp', { kind: 'stdio' }, true, 's1', 'mux'],
    ['qmp', { kind: 'stdio' }, true, 's1', 'mux'],
  ]);
  assert.deepEqual(resolveMonitors(checked('-chardev stdio,id=s -qmp chardev:s')).map((m) => [m.label, m.filename, m.mux]), [['s', 'stdio', false]]);
  assert.deepEqual(resolveMonitors(checked('-qmp stdio')).map((m) => [m.label, m.filename]), [['compat_monitor0', 'stdio']]);
  assert.deepEqual(resolveMonitors(checked('')), []);
  assert.deepEqual(resolveMonitors(checked('-nographic -nodefaults')), []);
});

test('resolveChardevs and serialChardev: what query-chardev lists', () => {
  const labels = (line: string) => resolveChardevs(checked(line)).map((c) => `${c.label}=${c.filename}`);
  // QEMU (pc, -nographic): parallel0=null (pmemvm has no parallel port), serial0=mux, serial0-base=stdio
  assert.deepEqual(labels('-nographic'), ['serial0=mux', 'serial0-base=stdio']);
  assert.deepEqual(labels('-serial file:/tmp/f.log -serial null'), ['serial0=file', 'serial1=null']);
  assert.deepEqual(labels('-chardev null,id=n1 -chardev stdio,id=s1,mux=on,signal=off -mon chardev=s1 -serial chardev:s1'), ['n1=null', 's1=mux', 's1-base=stdio']);
  assert.deepEqual(labels(`-qmp chardev:n1 -chardev stdio,id=n1 -monitor unix:/tmp/m.sock,server,nowait -serial null`),
    ['n1=stdio', 'compat_monitor1=disconnected:unix:/tmp/m.sock,server=on', 'serial0=null']);
  const o = checked('-serial none -serial stdio -qmp tcp::0,server=on');
  assert.equal(serialChardev(o, 0), undefined);
  assert.deepEqual(serialChardev(o, 1), { label: 'serial1', filename: 'stdio' });
  assert.equal(serialChardev(o, 2), undefined);
  assert.deepEqual(serialChardev(checked('-nographic'), 0), { label: 'serial0', filename: 'mux' });
  assert.deepEqual(serialChardev(checked('-chardev null,id=n -serial chardev:n'), 0), { label: 'n', filename: 'null' });
});

test('socket filenames: disconnected and connected forms (QEMU char-socket.c)', () => {
  assert.equal(disconnectedFilename({ kind: 'unix', path: '/tmp/q.sock' }), 'disconnected:unix:/tmp/q.sock,server=on');
  assert.equal(connectedFilename({ kind: 'unix', path: '/tmp/q.sock' }), 'unix:/tmp/q.sock,server=on');
  assert.equal(disconnectedFilename({ kind: 'tcp', host: '127.0.0.1', port: 36677 }), 'disconnected:tcp:127.0.0.1:36677,server=on');
  assert.equal(connectedFilename({ kind: 'tcp', host: '127.0.0.1', port: 4450 }, { host: '127.0.0.1', port: 46268 }), 'tcp:127.0.0.1:4450,server=on <-> 127.0.0.1:46268');
  // IPv6: brackets only once connected
  assert.equal(disconnectedFilename({ kind: 'tcp', host: '::1', port: 4452 }), 'disconnected:tcp:::1:4452,server=on');
  assert.equal(connectedFilename({ kind: 'tcp', host: '::1', port: 4451 }, { host: '::1', port: 42556 }), 'tcp:[::1]:4451,server=on <-> [::1]:42556');
  assert.equal(disconnectedFilename({ kind: 'tcp', host: '', port: 1 }), 'disconnected:tcp:0.0.0.0:1,server=on');
});

test('-help documents the monitor options', () => {
  for (const s of ['-mon [chardev=]id', '-chardev socket,id=id,path=path,server=on', '-chardev socket,id=id,host=host,port=port', '-chardev stdio,id=id[,mux=on|off][,signal=on|off]', '-chardev null,id=id', 'tcp:[host]:port,server=on', '-nic none, -net none', '-vga none']) {
    assert.ok(HELP_TEXT.includes(s), s);
  }
});

test('a TCP monitor beyond loopback gets a warning naming the bound port; loopback gets none', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '::ffff:127.0.0.1']) assert.equal(exposedMonitorWarning('-qmp x', host, 4444), undefined, host);
  assert.equal(exposedMonitorWarning('-qmp tcp:0.0.0.0:0,server=on', '0.0.0.0', 40123),
    '-qmp tcp:0.0.0.0:0,server=on: the monitor listens on every address, so other machines can reach it: whoever reaches port 40123 controls the guest (use 127.0.0.1 to keep it local)');
  assert.match(exposedMonitorWarning('-qmp tcp:10.0.0.5:4444,server=on', '10.0.0.5', 4444) ?? '', /listens on 10\.0\.0\.5, so other machines can reach it: whoever reaches port 4444/);
  assert.match(exposedMonitorWarning('-mon c', '::', 1) ?? '', /listens on every address/);
});
