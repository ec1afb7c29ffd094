import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultOptions, HELP_TEXT, parseArgs, VERSION_TEXT, type VmOptions } from '../../src/cli/options.js';
import { UserError } from '../../src/errors.js';

const G = 1n << 30n, M = 1n << 20n;
const args = (line: string) => line.split(' ').filter(Boolean);
const parse = (line: string) => parseArgs(args(line));

/** The message parseArgs throws, asserting it is a one-line UserError. */
function error(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${e}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail(`no error for ${argv.join(' ')}`);
}

test('defaults are QEMU\'s: pc, 128M, 1 vCPU, no devices', () => {
  const o = parseArgs([]);
  assert.deepEqual(o, defaultOptions());
  assert.equal(o.action, 'run');
  assert.deepEqual(o.machine, { type: 'pc', nvdimm: false, nvdimmPersistence: undefined });
  assert.deepEqual(o.memory, { size: 128n * M, slots: 0, maxmem: undefined });
  assert.deepEqual(o.smp, { cpus: 1, maxcpus: 1, sockets: 1, cores: 1, threads: 1 });
  assert.equal(o.accel, 'kvm');
  assert.deepEqual([o.serials, o.monitors, o.objects, o.devices, o.chardevs], [[], [], [], [], []]);
});

test('-m: bare number is MiB, suffixes, fractions, keys, merging, 8K rounding', () => {
  const cases: [string, VmOptions['memory']][] = [
    ['-m 512', { size: 512n * M, slots: 0, maxmem: undefined }],
    ['-m 512M', { size: 512n * M, slots: 0, maxmem: undefined }],
    ['-m 1.5G', { size: 1536n * M, slots: 0, maxmem: undefined }],
    ['-m 0x100', { size: 256n * M, slots: 0, maxmem: undefined }],
    ['-m size=2G', { size: 2n * G, slots: 0, maxmem: undefined }],
    ['-m 1G,slots=2,maxmem=4G', { size: G, slots: 2, maxmem: 4n * G }],
    ['-m 1G,maxmem=4096', { size: G, slots: 0, maxmem: 4096n }],    // bare maxmem is bytes
    ['-m 1,size=2', { size: 2n * M, slots: 0, maxmem: undefined }],  // last wins
    ['-m 1G -m slots=4,maxmem=8G', { size: G, slots: 4, maxmem: 8n * G }], // merged like QEMU
    ['-m 100B', { size: 8192n, slots: 0, maxmem: undefined }],
    ['--m 64M', { size: 64n * M, slots: 0, maxmem: undefined }],
  ];
  for (const [line, want] of cases) assert.deepEqual(parse(line).memory, want, line);
  assert.equal(parseArgs(['-m', '']).memory.size, 128n * M); // QEMU keeps the default
});

test('-machine / -M, -accel, -enable-kvm, -cpu', () => {
  assert.deepEqual(parse('-machine pc,nvdimm=on,nvdimm-persistence=cpu').machine, { type: 'pc', nvdimm: true, nvdimmPersistence: 'cpu' });
  assert.deepEqual(parse('-M pc-i440fx-7.2,nvdimm').machine, { type: 'pc-i440fx-7.2', nvdimm: true, nvdimmPersistence: undefined });
  assert.deepEqual(parse('-machine nvdimm=yes -machine nvdimm-persistence=mem-ctrl').machine, { type: 'pc', nvdimm: true, nvdimmPersistence: 'mem-ctrl' });
  assert.equal(parse('-machine pc,nvdimm=on -machine pc,nonvdimm').machine.nvdimm, false);
  assert.equal(parse('-machine type=pc,accel=kvm').machine.type, 'pc');
  assert.equal(parse('-accel kvm -enable-kvm -accel accel=kvm').accel, 'kvm');
  assert.equal(parse('-cpu host').cpu, 'host');
  assert.equal(parse('-cpu max').cpu, 'max');
  assert.equal(parse('').cpu, undefined);
});

test('-smp: implied cpus, topology resolved like QEMU 7.2', () => {
  const cases: [string, VmOptions['smp']][] = [
    ['-smp 2', { cpus: 2, maxcpus: 2, sockets: 1, cores: 2, threads: 1 }],
    ['-smp cpus=4', { cpus: 4, maxcpus: 4, sockets: 1, cores: 4, threads: 1 }],
    ['-smp 2,maxcpus=8', { cpus: 2, maxcpus: 8, sockets: 1, cores: 8, threads: 1 }],
    ['-smp 8,sockets=2', { cpus: 8, maxcpus: 8, sockets: 2, cores: 4, threads: 1 }],
    ['-smp 8,sockets=2,cores=2', { cpus: 8, maxcpus: 8, sockets: 2, cores: 2, threads: 2 }],
    ['-smp sockets=2,cores=3,threads=2', { cpus: 12, maxcpus: 12, sockets: 2, cores: 3, threads: 2 }],
    ['-smp 255', { cpus: 255, maxcpus: 255, sockets: 1, cores: 255, threads: 1 }],
    ['-smp 2 -smp maxcpus=4', { cpus: 2, maxcpus: 4, sockets: 1, cores: 4, threads: 1 }],
  ];
  for (const [line, want] of cases) assert.deepEqual(parse(line).smp, want, line);
});

test('boot, naming and flag options', () => {
  const o = parseArgs(['-kernel', 'bz', '-initrd', 'rd', '-append', '-console=ttyS0 x,y', '-name', 'vm,,1', '-pidfile', 'p',
    '-S', '-no-reboot', '-no-shutdown', '-nodefaults', '-no-user-config', '-display', 'none']);
  assert.equal(o.kernel, 'bz');
  assert.equal(o.initrd, 'rd');
  assert.equal(o.append, '-console=ttyS0 x,y'); // the value may start with '-'
  assert.equal(o.name, 'vm,1');
  assert.equal(o.pidfile, 'p');
  assert.deepEqual([o.startPaused, o.noReboot, o.noShutdown, o.nodefaults, o.noUserConfig, o.displayNone], [true, true, true, true, true, true]);
  assert.equal(parse('-name guest=g').name, 'g');
});

test('-serial, -nographic defaults, -qmp, -monitor, -chardev', () => {
  assert.deepEqual(parse('-serial stdio -serial null -serial none -serial file:/tmp/c.log -serial mon:stdio -serial chardev:c0').serials, [
    { kind: 'stdio', withMonitor: false }, { kind: 'null' }, { kind: 'none' }, { kind: 'file', path: '/tmp/c.log' },
    { kind: 'stdio', withMonitor: true }, { kind: 'chardev', id: 'c0' },
  ]);
  // -nographic: mon:stdio; with -qmp the serial gets stdio alone; with -serial the monitor does; -nodefaults: nothing.
  assert.deepEqual(parse('-nographic').serials, [{ kind: 'stdio', withMonitor: true }]);
  assert.deepEqual(parse('-nographic -qmp unix:/q,server').serials, [{ kind: 'stdio', withMonitor: false }]);
  assert.deepEqual(parse('-nographic -serial null').monitors, [{ protocol: 'hmp', endpoint: { kind: 'stdio' }, option: '-nographic', source: '-nographic' }]);
  // -mon counts as a monitor for -nographic (QEMU: default_monitor = 0)
  assert.deepEqual(parse('-nographic -chardev null,id=n -mon n').serials, [{ kind: 'stdio', withMonitor: false }]);
  assert.equal(parse('-nographic -chardev null,id=n -mon n').monitors.length, 1);
  assert.deepEqual(parse('-nographic -nodefaults').serials, []);
  assert.deepEqual(parse('-nographic -monitor none').serials, [{ kind: 'stdio', withMonitor: false }]);

  assert.deepEqual(parse('-qmp unix:/tmp/q.sock,server=on,wait=off -qmp stdio -monitor unix:/tmp/h,server,nowait -monitor none -qmp chardev:c1').monitors, [
    { protocol: 'qmp', endpoint: { kind: 'unix', path: '/tmp/q.sock', server: true, wait: false }, option: '-qmp', source: '-qmp unix:/tmp/q.sock,server=on,wait=off' },
    { protocol: 'qmp', endpoint: { kind: 'stdio' }, option: '-qmp', source: '-qmp stdio' },
    { protocol: 'hmp', endpoint: { kind: 'unix', path: '/tmp/h', server: true, wait: false }, option: '-monitor', source: '-monitor unix:/tmp/h,server,nowait' },
    { protocol: 'qmp', endpoint: { kind: 'chardev', id: 'c1' }, option: '-qmp', source: '-qmp chardev:c1' },
  ]);
  // wait defaults to on (QEMU); path= may be written out; yes/no spellings
  assert.deepEqual(parse('-qmp unix:/q,server').monitors[0].endpoint, { kind: 'unix', path: '/q', server: true, wait: true });
  assert.deepEqual(parse('-qmp unix:path=/q,server=yes,wait=no').monitors[0].endpoint, { kind: 'unix', path: '/q', server: true, wait: false });
  const c = parse('-chardev socket,id=c0,path=/a,,b,server=on,nowait').chardevs[0];
  assert.deepEqual({ ...c, props: Object.fromEntries(c.props), flags: Object.fromEntries(c.flags) },
    { backend: 'socket', id: 'c0', props: { path: '/a,b', server: 'on', wait: 'off' }, flags: { wait: 'nowait' }, arg: 'socket,id=c0,path=/a,,b,server=on,nowait' });
});

test('-object and -device are kept generic', () => {
  const o = parse('-object memory-backend-file,id=m0,mem-path=/p,size=1G,share -device nvdimm,memdev=m0,id=nv0 -device virtio-pmem-pci,memdev=m1');
  const obj = o.objects[0];
  assert.equal(obj.qomType, 'memory-backend-file');
  assert.equal(obj.id, 'm0');
  assert.deepEqual(Object.fromEntries(obj.props), { 'mem-path': '/p', size: '1G', share: 'on' });
  assert.equal(obj.arg, 'memory-backend-file,id=m0,mem-path=/p,size=1G,share');
  assert.deepEqual(o.devices.map((d) => [d.driver, d.id, Object.fromEntries(d.props)]), [
    ['nvdimm', 'nv0', { memdev: 'm0' }], ['virtio-pmem-pci', undefined, { memdev: 'm1' }]]);
  assert.equal(parse('-object qom-type=memory-backend-ram,id=r,size=1M').objects[0].qomType, 'memory-backend-ram');
  assert.equal(parse('-device driver=nvdimm').devices[0].driver, 'nvdimm');
});

test('-help, -h, -version stop parsing', () => {
  assert.equal(parse('-help').action, 'help');
  assert.equal(parse('--help').action, 'help');
  assert.equal(parse('-h -foo').action, 'help');
  assert.equal(parse('-version').action, 'version');
  assert.equal(parse('-m 1G --version').action, 'version');
  assert.equal(VERSION_TEXT, 'pmemvm 0.1.0 (QEMU-compatible command line)');
  for (const opt of ['-machine', '-m ', '-smp', '-object memory-backend-file', '-device nvdimm', '-device virtio-pmem-pci', '-qmp', '-serial', '-kernel', '-nographic'])
    assert.ok(HELP_TEXT.includes(opt), opt);
});

test('every parse error, exact text', () => {
  const cases: [string[], string][] = [
    [['-foo'], '-foo: invalid option (see pmemvm -help)'],
    [['--foo'], '--foo: invalid option (see pmemvm -help)'],
    [['-m=512'], '-m=512: invalid option (write the value as a separate argument: -m 512)'],
    [['-m'], '-m: requires an argument'],
    [['--kernel'], '--kernel: requires an argument'],
    [['disk.img'], "disk.img: unexpected argument (pmemvm takes no disk image; options start with '-', see pmemvm -help)"],
    [['-'], "-: unexpected argument (pmemvm takes no disk image; options start with '-', see pmemvm -help)"],
    [['-m', '12X'], '-m 12X: invalid size (use a number with an optional K, M, G or T suffix, e.g. 512M)'],
    [['-m', '16E'], '-m 16E: size too large (the limit is 16E minus one byte)'],
    [['-m', '99999999999999'], '-m 99999999999999: size too large (a bare number means MiB; the limit is 16E minus one byte)'],
    [['-m', '1.5'], '-m 1.5: invalid size (a fraction needs a K, M, G or T suffix, e.g. 1.5G)'], // QEMU too: bytes first, then MiB
    [['-m', '0'], '-m 0: RAM size must be greater than 0 (e.g. -m 512M)'],
    [['-m', '-1'], '-m -1: invalid size (use a number with an optional K, M, G or T suffix, e.g. 512M)'],
    [['-m', '1G,foo=1'], "-m 1G,foo=1: unknown property 'foo'; -m takes: size, slots, maxmem"],
    [['-m', '1G,slots=257,maxmem=4G'], "-m 1G,slots=257,maxmem=4G: slots must be an integer from 0 to 256, not '257'"],
    [['-m', '1G,slots=x'], "-m 1G,slots=x: slots must be an integer from 0 to 256, not 'x'"],
    [['-m', '1G,maxmem=2X'], '-m 1G,maxmem=2X: maxmem: invalid size (use a number with an optional K, M, G or T suffix, e.g. 512M)'],
    [['-machine', 'q35'], "-machine q35: machine type 'q35' is not supported (pmemvm emulates only the i440FX 'pc' machine); use -machine pc"],
    [['-machine', 'pc-q35-7.2'], "-machine pc-q35-7.2: machine type 'pc-q35-7.2' is not supported (pmemvm emulates only the i440FX 'pc' machine); use -machine pc"],
    [['-M', 'microvm'], "-machine microvm: unknown machine type 'microvm' (pmemvm emulates only 'pc', also spelled pc-i440fx-X.Y); use -machine pc"],
    [['-machine', 'pc,accel=tcg'], "-machine pc,accel=tcg: accelerator 'tcg' is not available: pmemvm only runs on KVM (use kvm or leave it out)"],
    [['-machine', 'pc,nvdimm=maybe'], "-machine pc,nvdimm=maybe: property 'nvdimm' must be on or off, not 'maybe'"],
    [['-machine', 'pc,nvdimm-persistence=foo'], "-machine pc,nvdimm-persistence=foo: nvdimm-persistence must be cpu or mem-ctrl, not 'foo'"],
    [['-machine', 'pc,foo=1'], "-machine pc,foo=1: unknown property 'foo'; -machine takes: type, accel, nvdimm, nvdimm-persistence"],
    [['-machine', 'pc,nonsense'], "-machine pc,nonsense: unknown property 'nsense' (from 'nonsense', which QEMU syntax reads as nsense=off); -machine takes: type, accel, nvdimm, nvdimm-persistence"],
    [['-accel', 'tcg'], "-accel tcg: accelerator 'tcg' is not available: pmemvm only runs on KVM (use kvm or leave it out)"],
    [['-accel', 'kvm,foo=1'], "-accel kvm,foo=1: unknown property 'foo'; pmemvm's kvm accelerator takes none"],
    [['-cpu', 'qemu64'], "-cpu qemu64: unsupported CPU model 'qemu64' (use host or max; both pass the host CPU through)"],
    [['-cpu', 'host,+x2apic'], '-cpu host,+x2apic: CPU feature flags are not supported (use -cpu host or -cpu max alone)'],
    [['-smp', '0'], "-smp 0: the number of vCPUs must be an integer from 1 to 255, not '0'"],
    [['-smp', '256'], "-smp 256: the number of vCPUs must be an integer from 1 to 255, not '256'"],
    [['-smp', 'x'], "-smp x: the number of vCPUs must be an integer from 1 to 255, not 'x'"],
    [['-smp', '2,threads=0'], "-smp 2,threads=0: 'threads' must be an integer from 1 to 255, not '0'"],
    [['-smp', '2,foo=1'], "-smp 2,foo=1: unknown property 'foo'; -smp takes: cpus, maxcpus, sockets, cores, threads"],
    [['-smp', '4,sockets=3'], '-smp 4,sockets=3: invalid CPU topology: sockets (3) * cores (1) * threads (1) = 3, but maxcpus is 4; make the product equal maxcpus (or leave one of them out to have it computed)'],
    [['-smp', '2,maxcpus=1'], '-smp 2,maxcpus=1: invalid CPU topology: maxcpus (1) is less than cpus (2); raise maxcpus or lower cpus'],
    [['-smp', '200,maxcpus=1'], '-smp 200,maxcpus=1: invalid CPU topology: maxcpus (1) is less than cpus (200); raise maxcpus or lower cpus'],
    [['-smp', 'sockets=16,cores=16,threads=2'], '-smp sockets=16,cores=16,threads=2: sockets (16) * cores (16) * threads (2) = 512 vCPUs, more than the 255 the pc machine supports'],
    [['-smp', 'sockets=85,cores=3'], '-smp sockets=85,cores=3: sockets (85) * cores (3) * threads (1) needs APIC ids up to 338 (each level is numbered in a power-of-two field), and pmemvm has at most 254; use fewer sockets, or cores and threads in powers of two'],
    [['-display', 'gtk'], '-display gtk: pmemvm has no display (use -display none, or -nographic for a console on stdio)'],
    [['-daemonize'], '-daemonize: not supported (run pmemvm in the background with your shell, setsid or a service manager)'],
    [['-name', 'x,process=y'], "-name x,process=y: unknown property 'process'; -name takes: guest"],
    [['-serial', 'foo'], "-serial foo: unsupported serial backend 'foo' (use stdio, mon:stdio, null, none, file:PATH or chardev:ID)"],
    [['-serial', 'file:'], "-serial file:: missing file name after 'file:' (e.g. -serial file:console.log)"],
    [['-serial', 'chardev:0x'], "-serial chardev:0x: '0x' is not a valid chardev id (an id consists of letters, digits, '-', '.', '_' and starts with a letter)"],
    [['-qmp', 'foo'], "-qmp foo: unsupported monitor backend 'foo' (use stdio, unix:PATH,server=on,wait=off, tcp:HOST:PORT,server=on,wait=off, chardev:ID)"],
    [['-qmp', 'none'], "-qmp none: unsupported monitor backend 'none' (use stdio, unix:PATH,server=on,wait=off, tcp:HOST:PORT,server=on,wait=off, chardev:ID)"],
    [['-monitor', 'telnet::4444'], "-monitor telnet::4444: unsupported monitor backend 'telnet::4444' (use stdio, unix:PATH,server=on,wait=off, tcp:HOST:PORT,server=on,wait=off, chardev:ID, none)"],
    [['-qmp', 'unix:/q,server=on,wait=maybe'], "-qmp unix:/q,server=on,wait=maybe: property 'wait' must be on or off, not 'maybe'"],
    [['-qmp', 'unix:,server'], "-qmp unix:,server: missing socket path after 'unix:' (e.g. unix:/tmp/qmp.sock,server=on,wait=off)"],
    [['-qmp', 'unix:/q,reconnect=1'], "-qmp unix:/q,reconnect=1: unknown property 'reconnect'; a unix: socket takes: path, server, wait"],
    [['-chardev', 'socket'], '-chardev socket: missing id= (every -chardev needs one, e.g. socket,id=char0)'],
    [['-chardev', 'id=c0'], '-chardev id=c0: missing backend type (e.g. -chardev socket,id=qmp0,path=/tmp/qmp.sock,server=on,wait=off)'],
    [['-chardev', 'stdio,id=1c'], "-chardev stdio,id=1c: invalid id '1c' (an id consists of letters, digits, '-', '.', '_' and starts with a letter)"],
    [['-object', 'id=m0'], '-object id=m0: missing object type (e.g. -object memory-backend-file,id=mem0,mem-path=pmem.img,size=1G)'],
    [['-object', 'memory-backend-ram,size=1M'], '-object memory-backend-ram,size=1M: missing id= (every -object needs one, e.g. memory-backend-ram,id=mem0,...)'],
    [['-object', 'memory-backend-ram,id=0bad,size=1M'], "-object memory-backend-ram,id=0bad,size=1M: invalid id '0bad' (an id consists of letters, digits, '-', '.', '_' and starts with a letter)"],
    [['-object', 'memory-backend-ram,id=,size=1M'], "-object memory-backend-ram,id=,size=1M: invalid id '' (an id consists of letters, digits, '-', '.', '_' and starts with a letter)"],
    [['-device', ''], '-device : missing device type (e.g. -device nvdimm,memdev=mem0,id=nv0)'],
    [['-device', 'nvdimm,id=a b'], "-device nvdimm,id=a b: invalid id 'a b' (an id consists of letters, digits, '-', '.', '_' and starts with a letter)"],
  ];
  for (const [argv, want] of cases) assert.equal(error(argv), want, argv.join(' '));
});
