import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { runHmpLine, helpText } from '../../src/monitor/hmp.js';
import { HmpSession } from '../../src/monitor/hmp-session.js';
import { createHmpTerminal } from '../../src/monitor/hmp-terminal.js';
import { FakeMachine } from '../../src/monitor/fake-machine.js';
import { PMEMVM_VERSION } from '../../src/monitor/version.js';

/**
 * Texts recorded from QEMU 7.2's HMP (monitor socket and human-monitor-command) on the
 * machine FakeMachine copies. Deliberate differences: `info version` prints pmemvm's
 * version and package, help lists only pmemvm's commands, Tab does not complete.
 */
const run = (line: string, m = new FakeMachine(), cpuIndex?: number) => {
  const r = runHmpLine(line, { machine: m, cpuIndex });
  assert.equal(typeof r, 'string', line);
  return r as string;
};

test('info commands print QEMU 7.2\'s texts', () => {
  const vectors: [string, string][] = [
    ['info status', 'VM status: running\r\n'],
    ['info name', 'guest1\r\n'],
    ['  info   name  ', 'guest1\r\n'],
    ['info kvm', 'kvm support: disabled\r\n'],
    ['info cpus', '* CPU #0: thread_id=7556\r\n  CPU #1: thread_id=7557\r\n'],
    ['info memory-devices', 'Memory device [nvdimm]: "nv1"\r\n  addr: 0x100000000\r\n  slot: 0\r\n  node: 0\r\n  size: 66977792\r\n  memdev: /objects/mem1\r\n  hotplugged: false\r\n  hotpluggable: true\r\nMemory device [virtio-pmem]: "vp1"\r\n  memaddr: 0x103fe0000\r\n  size: 67108864\r\n  memdev: /objects/mem2\r\n'],
    ['info memdev', 'memory backend: mem1\r\n  size:  67108864\r\n  merge: true\r\n  dump: true\r\n  prealloc: false\r\n  share: true\r\n  reserve: true\r\n  policy: default\r\n  host nodes: \r\nmemory backend: pc.ram\r\n  size:  134217728\r\n  merge: true\r\n  dump: true\r\n  prealloc: false\r\n  share: false\r\n  reserve: true\r\n  policy: default\r\n  host nodes: \r\nmemory backend: mem2\r\n  size:  67108864\r\n  merge: true\r\n  dump: true\r\n  prealloc: false\r\n  share: false\r\n  reserve: true\r\n  policy: default\r\n  host nodes: \r\n\r\n'],
    ['info memory_size_summary', 'base memory: 134217728\r\nplugged memory: 134086656\r\n'],
    ['info pci', '  Bus  0, device   0, function 0:\r\n    Host bridge: PCI device 8086:1237\r\n      PCI subsystem 1af4:1100\r\n      id ""\r\n  Bus  0, device   1, function 0:\r\n    ISA bridge: PCI device 8086:7000\r\n      PCI subsystem 1af4:1100\r\n      id ""\r\n  Bus  0, device   1, function 1:\r\n    IDE controller: PCI device 8086:7010\r\n      PCI subsystem 1af4:1100\r\n      BAR4: I/O at 0xffffffffffffffff [0x000e].\r\n      id ""\r\n  Bus  0, device   1, function 3:\r\n    Bridge: PCI device 8086:7113\r\n      PCI subsystem 1af4:1100\r\n      IRQ 0, pin A\r\n      id ""\r\n  Bus  0, device   2, function 0:\r\n    Class 0255: PCI device 1af4:105b\r\n      PCI subsystem 1af4:1100\r\n      IRQ 0, pin A\r\n      BAR4: 64 bit prefetchable memory at 0xffffffffffffffff [0x00003ffe].\r\n      id "vp1"\r\n'],
    ['info chardev', 'compat_monitor1: filename=disconnected:unix:/tmp/mon/h2.sock,server=on\r\ncompat_monitor0: filename=unix:/tmp/mon/q2.sock,server=on\r\n'],
    ['info version', `7.2.0pmemvm ${PMEMVM_VERSION}\r\n`], // QEMU: "7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3"
  ];
  for (const [line, want] of vectors) assert.equal(run(line), want, line);
  assert.equal(run('info cpus', new FakeMachine(), 1), '  CPU #0: thread_id=7556\r\n* CPU #1: thread_id=7557\r\n');
  const m = new FakeMachine();
  m.state = 'prelaunch';
  assert.equal(run('info status', m), 'VM status: paused (prelaunch)\r\n');
  m.state = 'paused';
  assert.equal(run('info status', m), 'VM status: paused\r\n');
  m.vmName = undefined;
  assert.equal(run('info name', m), '');
});

test('parse errors, unknown commands and help: QEMU 7.2\'s texts', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['nosuch', "unknown command: 'nosuch'\r\n"],
    ['info nosuch', "unknown command: 'info nosuch'\r\n"],
    ['  info   nosuch', "unknown command: '  info   nosuch'\r\n"],
    ['info/status', "unknown command: 'info'\r\n"],
    ['info status extra', 'status: extraneous characters at the end of line\r\nTry "help info status" for more information\r\n'],
    ['q x', 'quit|q: extraneous characters at the end of line\r\nTry "help q" for more information\r\n'],
    ['object_add', 'object_add: string expected\r\nTry "help object_add" for more information\r\n'],
    ['object_del', 'object_del: string expected\r\nTry "help object_del" for more information\r\n'],
    ['object_del "a', 'object_del: string expected\r\nTry "help object_del" for more information\r\n'],
    ['object_del a b', 'object_del: extraneous characters at the end of line\r\nTry "help object_del" for more information\r\n'],
    ['device_del', 'device_del: string expected\r\nTry "help device_del" for more information\r\n'],
    ['object_del x', "Error: object 'x' not found\r\n"],
    ['object_del "a b" ', "Error: object 'a b' not found\r\n"],
    ['device_del x', "Error: Device 'x' not found\r\n"],
    ['device_add', "Error: Parameter 'driver' is missing\r\n"],
    ['device_add nvdimm,id=1bad', 'Try "help device_add" for more information\r\n'],
    ['object_add memory-backend-ram,size=1M', "Error: Parameter 'id' is missing\r\n"],
    ['help object_add', 'object_add [qom-type=]type,id=str[,prop=value][,...] -- create QOM object\r\n'],
    ['help info status', 'info status  -- show the current VM status (running|paused)\r\n'],
    ['help info status x', 'info status  -- show the current VM status (running|paused)\r\n'],
    ['help nosuch', "unknown command: 'nosuch'\r\n"],
    ['help info nosuch', "unknown command: 'info nosuch'\r\n"],
    ['help c', 'cont|c  -- resume emulation\r\n'],
    ['help q', 'quit|q  -- quit the emulator\r\n'],
    ['help s', 'stop|s  -- stop emulation\r\n'],
    ['help help', 'help|? [cmd] -- show the help\r\n'],
  ];
  for (const [line, want] of vectors) assert.equal(run(line), want, line);
  // QEMU's own lines for pmemvm's commands, in QEMU's (sorted) order.
  assert.equal(helpText(undefined), [
    'chardev-send-break id -- send a break on chardev',
    'cont|c  -- resume emulation',
    'device_add driver[,prop=value][,...] -- add device, like -device on the command line',
    'device_del device -- remove device',
    'help|? [cmd] -- show the help',
    'info [subcommand] -- show various information about the system state',
    'object_add [qom-type=]type,id=str[,prop=value][,...] -- create QOM object',
    'object_del id -- destroy QOM object',
    'quit|q  -- quit the emulator',
    'stop|s  -- stop emulation',
    'system_powerdown  -- send system power down event',
    'system_reset  -- reset the system',
  ].map((l) => l + '\n').join(''));
  assert.equal(run('?'), run('help'));
  const infoHelp = [
    'info chardev  -- show the character devices',
    'info cpus  -- show infos for each CPU',
    'info kvm  -- show KVM information',
    'info memdev  -- show memory backends',
    'info memory-devices  -- show memory devices',
    'info memory_size_summary  -- show the amount of initially allocated and present hotpluggable (if enabled) memory in bytes.',
    'info name  -- show the current VM name',
    'info pci  -- show PCI info',
    "info registers [-a|vcpu] -- show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)",
    'info status  -- show the current VM status (running|paused)',
    'info version  -- show the version of QEMU',
  ].map((l) => l + '\r\n').join('');
  assert.equal(run('info'), infoHelp);
  assert.equal(run('info '), infoHelp);
  assert.equal(run('help info'), infoHelp);
});

test('object_add / device_add take QemuOpts and reach the machine as -object / -device would', () => {
  const m = new FakeMachine();
  assert.equal(run('object_add memory-backend-file,id=mem2,share=on,mem-path=new_nvdimm.img,size=4G', m), '');
  assert.deepEqual(m.objects.get('mem2'), { id: 'mem2', 'qom-type': 'memory-backend-file', share: 'on', 'mem-path': 'new_nvdimm.img', size: '4G' });
  assert.equal(run('device_add nvdimm,id=nvdimm2,memdev=mem2', m), '');
  assert.equal(run('device_add virtio-pmem-pci,id=virtio_pmem2,memdev=mem2', m), '');
  assert.deepEqual(m.devices.get('virtio_pmem2'), { id: 'virtio_pmem2', driver: 'virtio-pmem-pci', memdev: 'mem2' });
  assert.equal(run('device_add nvdimm,id=n3,memdev=nosuch', m), "Error: Device 'nosuch' not found\r\n");
  assert.equal(run('device_del nvdimm2', m), '');
  assert.equal(run('object_del mem2', m), '');
  assert.equal(run('stop', m), '');
  assert.equal(run('info status', m), 'VM status: paused\r\n');
  assert.equal(run('c', m), '');
  assert.equal(run('system_reset', m), '');
  assert.equal(run('system_powerdown', m), '');
  assert.deepEqual(m.events.map((e) => e.name), ['STOP', 'RESUME', 'RESET', 'POWERDOWN']);
});

function hmpSession(m = new FakeMachine()) {
  const chunks: Buffer[] = [];
  const s = new HmpSession({ machine: m, write: (d) => chunks.push(d) });
  const take = () => { const b = Buffer.concat(chunks).toString('latin1'); chunks.length = 0; return b; };
  return { s, take, m };
}

test('HMP on a socket: QEMU\'s banner, prompt and line-editor echo, byte for byte', () => {
  const { s, take } = hmpSession();
  assert.equal(s.greeting().toString(), "QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) ");
  // Recorded from QEMU 7.2 (banner there: "QEMU 7.2.22 monitor ...").
  s.feed(Buffer.from('info status\n'));
  assert.equal(take(), 'i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinf\x1b[K\x1b[D\x1b[D\x1b[Dinfo\x1b[K\x1b[D\x1b[D\x1b[D\x1b[Dinfo \x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo s\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo st\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo sta\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo stat\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo statu\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dinfo status\x1b[K\r\nVM status: running\r\n(qemu) ');
  s.feed(Buffer.from('c\n'));
  assert.equal(take(), 'c\x1b[K\r\n(qemu) ');
  s.feed(Buffer.from('\n'));
  assert.equal(take(), '\r\n(qemu) ');
  s.feed(Buffer.from('ab\x7fc\n'));
  assert.equal(take(), "a\x1b[K\x1b[Dab\x1b[K\x1b[D\x1b[Da\x1b[K\x1b[Dac\x1b[K\r\nunknown command: 'ac'\r\n(qemu) ");
  // Ctrl-A, insert, Ctrl-E (recorded; QEMU also answered a Tab here with its completion list).
  s.feed(Buffer.from('zz\x01y\x05\n'));
  assert.equal(take(), "z\x1b[K\x1b[Dzz\x1b[K\x1b[D\x1b[Dyzz\x1b[K\x1b[D\x1b[D\x1b[C\x1b[C\r\nunknown command: 'yzz'\r\n(qemu) ");
  s.feed(Buffer.from('q\n'));
  assert.equal(take(), 'q\x1b[K\r\n'); // then QEMU exits: no prompt
  s.feed(Buffer.from('x\r\n'));
  assert.equal(take(), 'x\x1b[K\r\nunknown command: \'x\'\r\n(qemu) \r\n(qemu) ');
});

test('HMP line editor: history, cursor keys, 4095-byte lines, a 10 MB line', () => {
  const { s, take } = hmpSession();
  s.feed(Buffer.from('info name\n'));
  take();
  s.feed(Buffer.from('\x1b[A'));
  assert.equal(take(), 'info name\x1b[K');
  s.feed(Buffer.from('\x1b[D\x1b[D\x1b[D\x1b[D\x7f\n'));
  // Four cursor moves, then the backspace's redraw from column 5.
  assert.equal(take(), '\x1b[D'.repeat(4) + '\x1b[D'.repeat(5) + 'infoname\x1b[K\x1b[D\x1b[D\x1b[D\x1b[D\r\nunknown command: \'infoname\'\r\n(qemu) ');
  // A huge line: bytes past 4095 are dropped, nothing is buffered beyond that, the line runs.
  const chunk = Buffer.alloc(1 << 20, 'x');
  let outBytes = 0;
  const big = new HmpSession({ machine: new FakeMachine(), write: (d) => { outBytes += d.length; } });
  for (let i = 0; i < 10; i++) big.feed(chunk);
  const before = outBytes;
  big.feed(Buffer.from('\n'));
  assert.ok(outBytes > before);
  assert.ok(outBytes < 40e6, `${outBytes}`);
});

test('HMP terminal (readline) runs lines and can be detached and attached again', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (d: Buffer) => { text += d.toString(); });
  const term = createHmpTerminal(input, output, new FakeMachine(), { terminal: false });
  const settle = async (want: string) => {
    for (const end = Date.now() + 60000; !text.endsWith(want) && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  };
  term.attach();
  input.write('info status\n');
  await settle('running\r\n(qemu) ');
  assert.equal(text, "QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) VM status: running\r\n(qemu) ");
  term.detach();
  text = '';
  term.attach();
  input.write('info kvm\n');
  await settle('disabled\r\n(qemu) ');
  assert.equal(text, '(qemu) kvm support: disabled\r\n(qemu) ');
  term.detach();
});

test('random bytes never throw out of the HMP session, and it answers afterwards', async () => {
  let seed = 777;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 16; };
  for (let round = 0; round < 200; round++) {
    const { s, take } = hmpSession();
    const junk = Buffer.alloc(1 + (rand() % 300));
    for (let i = 0; i < junk.length; i++) junk[i] = rand() & 0xff;
    s.feed(junk);
    s.feed(Buffer.from('\x1b[D\x15\n'));
    await new Promise((r) => setImmediate(r)); // the junk may have spelled an asynchronous command (q)
    take();
    s.feed(Buffer.from('info kvm\n'));
    await new Promise((r) => setImmediate(r));
    assert.ok(take().endsWith('\r\nkvm support: disabled\r\n(qemu) '), `round ${round}`);
  }
});
