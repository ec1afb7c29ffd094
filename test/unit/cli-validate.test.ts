import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../src/cli/options.js';
import { validateOptions } from '../../src/cli/validate.js';
import { parseMemoryBackend } from '../../src/cli/backends.js';
import { parseDevice } from '../../src/cli/devices.js';
import { UserError } from '../../src/errors.js';

const M = 1n << 20n, G = 1n << 30n;
const check = (line: string) => validateOptions(parseArgs(line.split(' ').filter(Boolean)));
function error(line: string): string {
  try { check(line); } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${e}`);
    assert.ok(!e.message.includes('\n'));
    return e.message;
  }
  assert.fail(`no error for ${line}`);
}

const MACH = '-machine pc,nvdimm=on -m 1G,slots=2,maxmem=4G';
const RAM0 = '-object memory-backend-ram,id=m0,size=128M';
const RAM1 = '-object memory-backend-ram,id=m1,size=128M';
const FILE0 = '-object memory-backend-file,id=m0,size=4M,mem-path=/p';

test('valid configurations pass', () => {
  for (const line of [
    '',
    '-m 1G,maxmem=2G',                       // maxmem without slots: QEMU 7.2 accepts
    `${MACH} ${RAM0} -device nvdimm,memdev=m0,id=nv0,label-size=128K,slot=1,addr=0x140000000`,
    `${MACH} ${RAM0} ${RAM1} -device nvdimm,memdev=m0 -device virtio-pmem-pci,memdev=m1,addr=4.0`,
    `-m 1G,maxmem=2G ${RAM0} -device virtio-pmem-pci,memdev=m0`,
    `${MACH} -object memory-backend-file,id=m0,size=1M,mem-path=/p -device nvdimm,memdev=m0`, // page-aligned file: 1M is enough
    `${MACH} -object memory-backend-file,id=m0,size=4M,mem-path=/p,readonly=on -device nvdimm,memdev=m0,unarmed=on`,
    '-nographic -qmp unix:/q,server=on,wait=off',
    '-chardev stdio,id=c0 -qmp chardev:c0 -serial null',
    '-kernel bz -initrd rd -append x',
  ]) assert.doesNotThrow(() => check(line), line);
});

test('every validation error, exact text', () => {
  const cases: [string, string][] = [
    // QEMU: "slots specified but no max-size"
    ['-m 512,slots=2', '-m: slots=2 needs maxmem too (e.g. -m 512M,slots=2,maxmem=1G)'],
    // QEMU: "invalid value of maxmem: maximum memory size (0x20000000) must be at least the initial memory size (0x40000000)"
    ['-m 1G,slots=2,maxmem=512M', '-m: maxmem (512M) is smaller than the RAM size (1G); maxmem is RAM plus room for memory devices'],
    ['-m 1G,slots=2,maxmem=4096', '-m: maxmem (4K) is smaller than the RAM size (1G); maxmem is RAM plus room for memory devices; note that a bare maxmem number means bytes, unlike -m (write maxmem=4096M for MiB)'],
    // QEMU: "invalid value of maxmem: memory slots were specified but maximum memory size (0x40000000) is equal to the initial memory size (0x40000000)"
    ['-m 1G,slots=2,maxmem=1G', '-m: maxmem (1G) equals the RAM size, leaving no room for the 2 slots; make maxmem RAM plus the size of your memory devices'],
    // QEMU: "-initrd only allowed with -kernel option"
    ['-initrd rd', '-initrd: only allowed with -kernel (give the kernel image with -kernel bzImage)'],
    ['-append x', '-append: only allowed with -kernel (give the kernel image with -kernel bzImage)'],
    // QEMU: "Duplicate ID 'm0' for object"
    [`${RAM0} ${RAM0}`, "-object memory-backend-ram,id=m0,size=128M: id 'm0' is already used by an earlier -object memory-backend-ram,id=m0,size=128M"],
    [`${MACH} ${RAM0} ${RAM1} -device nvdimm,memdev=m0,id=d -device nvdimm,memdev=m1,id=d`, "-device nvdimm,memdev=m1,id=d: id 'd' is already used by an earlier -device nvdimm,memdev=m0,id=d"],
    ['-chardev null,id=c -chardev null,id=c', "-chardev null,id=c: id 'c' is already used by an earlier -chardev null,id=c"],
    // QEMU: "nvdimm is not enabled: missing 'nvdimm' in '-M'"
    [`-m 1G,slots=2,maxmem=4G ${RAM0} -device nvdimm,memdev=m0`, '-device nvdimm,memdev=m0: NVDIMM support is off; add -machine nvdimm=on'],
    // QEMU: "no slots where allocated, please specify the 'slots' option"
    [`-machine pc,nvdimm=on -m 1G,maxmem=4G ${RAM0} -device nvdimm,memdev=m0`, '-device nvdimm,memdev=m0: no memory slots for the nvdimm; add slots and maxmem to -m (e.g. -m 1G,slots=4,maxmem=4G)'],
    // QEMU: "memory devices (e.g. for memory hotplug) are not enabled, please specify the maxmem option"
    [`-m 1G ${RAM0} -device virtio-pmem-pci,memdev=m0`, '-device virtio-pmem-pci,memdev=m0: no room for memory devices; add maxmem to -m, larger than the RAM size by the device sizes (e.g. -m 1G,maxmem=4G)'],
    // QEMU: "'memdev' property must be set"
    [`${MACH} -device nvdimm,id=nv0`, '-device nvdimm,id=nv0: missing memdev= (the id of a -object memory-backend-file or memory-backend-ram)'],
    // QEMU: "Device 'mX' not found"
    [`${MACH} ${RAM0} -device nvdimm,memdev=mX`, "-device nvdimm,memdev=mX: memdev 'mX' names no -object (add -object memory-backend-file,id=mX,mem-path=FILE,size=SIZE)"],
    // QEMU: "can't use already busy memdev: m0"
    [`${MACH} ${RAM0} -device nvdimm,memdev=m0 -device virtio-pmem-pci,memdev=m0`, "-device virtio-pmem-pci,memdev=m0: memdev 'm0' is already used by -device nvdimm,memdev=m0; give each device its own -object"],
    // QEMU: "Property 'nvdimm.label-size' (0x10000) is required at least 0x20000"
    [`${MACH} ${RAM0} -device nvdimm,memdev=m0,label-size=64K`, '-device nvdimm,memdev=m0,label-size=64K: label-size=64K is too small; the label area must be at least 128K (or leave label-size out for no labels)'],
    // QEMU: "invalid slot number 5, valid range is [0-1]"
    [`${MACH} ${RAM0} -device nvdimm,memdev=m0,slot=5`, '-device nvdimm,memdev=m0,slot=5: slot 5 does not exist; -m slots=2 gives slots 0 to 1'],
    // QEMU: "slot 1 is busy"
    [`${MACH} ${RAM0} ${RAM1} -device nvdimm,memdev=m0,slot=1 -device nvdimm,memdev=m1,slot=1`, '-device nvdimm,memdev=m1,slot=1: slot 1 is already used by -device nvdimm,memdev=m0,slot=1'],
    // QEMU: "address range conflicts with memory device id='(unnamed)'"
    [`${MACH} ${RAM0} ${RAM1} -device nvdimm,memdev=m0,addr=5G -device nvdimm,memdev=m1,addr=0x146000000`, '-device nvdimm,memdev=m1,addr=0x146000000: address range 0x146000000-0x14dffffff overlaps -device nvdimm,memdev=m0,addr=5G'],
    // QEMU: "not enough space, currently 0x0 in use of total space for memory devices 0x4c00000"
    [`-machine pc,nvdimm=on -m 1G,slots=2,maxmem=1100M ${RAM0} -device nvdimm,memdev=m0`, '-device nvdimm,memdev=m0: not enough room for memory devices: they need 128M but maxmem - RAM is 76M; raise maxmem to at least 1152M'],
    // QEMU fails only when plugging the third nvdimm
    [`-machine pc,nvdimm=on -m 1G,slots=1,maxmem=4G ${RAM0} ${RAM1} -device nvdimm,memdev=m0 -device nvdimm,memdev=m1`, '-m: 2 nvdimm devices need 2 slots but slots=1; raise slots'],
    // QEMU: "the size of memdev m0 (0x100000) is too small to contain nvdimm label (0x0) and aligned PMEM (0x200000)"
    [`${MACH} -object memory-backend-ram,id=m0,size=1M -device nvdimm,memdev=m0`, "-device nvdimm,memdev=m0: memdev 'm0' (1M) is too small to hold the 0B label area plus at least 2M of persistent memory"],
    [`${MACH} ${FILE0} -device nvdimm,memdev=m0,label-size=4M`, "-device nvdimm,memdev=m0,label-size=4M: memdev 'm0' (4M) is too small to hold the 4M label area plus at least 4K of persistent memory"],
    // QEMU: "'unarmed' property must be 'on' since memdev m0 is read-only"
    [`${MACH} -object memory-backend-file,id=m0,size=4M,mem-path=/p,readonly=on -device nvdimm,memdev=m0`, "-device nvdimm,memdev=m0: memdev 'm0' is read-only, so the nvdimm must be unarmed; add unarmed=on"],
    // QEMU: "cannot use stdio by multiple character devices"
    ['-serial stdio -qmp stdio', '-qmp stdio: stdio is already used by -serial stdio; only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)'],
    ['-qmp stdio -nographic', '-qmp stdio: stdio is already used by -serial stdio (-nographic puts the serial port on stdio unless -serial says otherwise); only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)'],
    ['-chardev stdio,id=c -monitor stdio', '-monitor stdio: stdio is already used by -chardev stdio,id=c; only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)'],
    // QEMU: 'chardev "nope" not found'
    ['-qmp chardev:nope', "-qmp chardev:nope: no -chardev with id 'nope'"],
    ['-serial chardev:nope', "-serial chardev:nope: no -chardev with id 'nope'"],
  ];
  for (const [line, want] of cases) assert.equal(error(line), want, line);
});

test('parseMemoryBackend: typed record and defaults', () => {
  const [file] = parseArgs(['-object', 'memory-backend-file,id=pm,mem-path=/dev/dax0.0,size=1.5G,share,pmem=on,align=2M,discard-data=yes']).objects;
  assert.deepEqual(parseMemoryBackend(file), {
    kind: 'file', id: 'pm', size: 1536n * M, memPath: '/dev/dax0.0', align: 2n * M,
    share: true, pmem: true, readonly: false, discardData: true, prealloc: false,
  });
  const [ram] = parseArgs(['-object', 'memory-backend-ram,id=r,size=1G,prealloc=on,noshare']).objects;
  assert.deepEqual(parseMemoryBackend(ram), {
    kind: 'ram', id: 'r', size: G, memPath: undefined, align: undefined,
    share: false, pmem: false, readonly: false, discardData: false, prealloc: true,
  });
});

test('parseMemoryBackend errors, exact text', () => {
  const cases: [string, string][] = [
    ['foo,id=x', "-object foo,id=x: unsupported object type 'foo' (pmemvm supports memory-backend-file and memory-backend-ram)"],
    ['memory-backend-ram,id=m0', '-object memory-backend-ram,id=m0: missing size= (e.g. size=1G)'],
    ['memory-backend-ram,id=m0,size=0', "-object memory-backend-ram,id=m0,size=0: property 'size' must be greater than 0 (e.g. size=1G)"],
    ['memory-backend-ram,id=m0,size=1X', "-object memory-backend-ram,id=m0,size=1X: property 'size': invalid size (use a number with an optional K, M, G or T suffix, e.g. 512M)"],
    ['memory-backend-ram,id=m0,size=1M,mem-path=/x', "-object memory-backend-ram,id=m0,size=1M,mem-path=/x: property 'mem-path' applies only to memory-backend-file"],
    ['memory-backend-ram,id=m0,size=1M,foo=bar', "-object memory-backend-ram,id=m0,size=1M,foo=bar: unknown property 'foo'; memory-backend-ram takes: size, share, prealloc"],
    ['memory-backend-file,id=m0,size=1M', '-object memory-backend-file,id=m0,size=1M: missing mem-path= (the file or /dev/daxX.Y that holds the memory)'],
    ['memory-backend-file,id=m0,size=1M,mem-path=', '-object memory-backend-file,id=m0,size=1M,mem-path=: missing mem-path= (the file or /dev/daxX.Y that holds the memory)'],
    ['memory-backend-file,id=m0,size=1M,mem-path=/p,pmem=maybe', "-object memory-backend-file,id=m0,size=1M,mem-path=/p,pmem=maybe: property 'pmem' must be on or off, not 'maybe'"],
    ['memory-backend-file,id=m0,size=3M,mem-path=/p,align=12K', '-object memory-backend-file,id=m0,size=3M,mem-path=/p,align=12K: align=12K must be a power of two (e.g. align=2M)'],
    ['memory-backend-file,id=m0,size=3M,mem-path=/p,align=2', '-object memory-backend-file,id=m0,size=3M,mem-path=/p,align=2: align=2B must be a multiple of the 4K page size (e.g. align=2M)'],
    ['memory-backend-file,id=m0,size=4M,mem-path=/p,readonly=on,prealloc=on', '-object memory-backend-file,id=m0,size=4M,mem-path=/p,readonly=on,prealloc=on: prealloc=on cannot be combined with readonly=on (preallocation writes to the memory)'],
    ['memory-backend-file,id=m0,size=1M,mem-path=/p,notify', "-object memory-backend-file,id=m0,size=1M,mem-path=/p,notify: unknown property 'tify' (from 'notify', which QEMU syntax reads as tify=off); memory-backend-file takes: size, share, prealloc, mem-path, align, pmem, readonly, discard-data"],
  ];
  for (const [arg, want] of cases) {
    const [obj] = parseArgs(['-object', arg]).objects;
    assert.throws(() => parseMemoryBackend(obj), (e: unknown) => e instanceof UserError && e.message === want, arg);
  }
});

test('parseDevice: typed nvdimm and virtio-pmem-pci', () => {
  const dev = (arg: string) => parseDevice(parseArgs(['-device', arg]).devices[0]);
  assert.deepEqual(dev('nvdimm,memdev=m0,id=nv0,label-size=256K,unarmed,slot=0,addr=0x140000000,uuid=9E2B6B4A-0C3B-4D1A-8F27-5A0B6C3D2E1F'), {
    driver: 'nvdimm', id: 'nv0', memdev: 'm0', labelSize: 256n * 1024n, unarmed: true, slot: 0,
    addr: 0x140000000n, uuid: '9e2b6b4a-0c3b-4d1a-8f27-5a0b6c3d2e1f', labelOverwrite: false, flushHint: false,
  });
  assert.deepEqual(dev('nvdimm,memdev=m0,slot=-1,addr=0'), {
    driver: 'nvdimm', id: undefined, memdev: 'm0', labelSize: undefined, unarmed: false, slot: undefined, addr: undefined, uuid: undefined, labelOverwrite: false, flushHint: false,
  });
  assert.equal((dev('nvdimm,memdev=m0,flush-hint=on') as { flushHint: boolean }).flushHint, true);
  assert.deepEqual(dev('virtio-pmem-pci,memdev=m0,id=p0,addr=1f.7'), { driver: 'virtio-pmem-pci', id: 'p0', memdev: 'm0', pciAddr: { slot: 31, fn: 7 } });
  assert.deepEqual(dev('virtio-pmem-pci,memdev=m0,addr=0x4'), { driver: 'virtio-pmem-pci', id: undefined, memdev: 'm0', pciAddr: { slot: 4, fn: 0 } });
});

test('parseDevice errors, exact text', () => {
  const cases: [string, string][] = [
    ['foo', "-device foo: unsupported device 'foo' (pmemvm supports nvdimm and virtio-pmem-pci)"],
    ['nvdimm,memdev=m0,foo=1', "-device nvdimm,memdev=m0,foo=1: unknown property 'foo'; nvdimm takes: memdev, label-size, unarmed, slot, addr, uuid, label-overwrite, flush-hint"],
    ['nvdimm,memdev=m0,flush-hint=yes!', "-device nvdimm,memdev=m0,flush-hint=yes!: property 'flush-hint' must be on or off, not 'yes!'"],
    ['nvdimm,memdev=m0,label-size=0', '-device nvdimm,memdev=m0,label-size=0: label-size=0B is too small; the label area must be at least 128K (or leave label-size out for no labels)'],
    ['nvdimm,memdev=m0,label-size=1X', "-device nvdimm,memdev=m0,label-size=1X: property 'label-size': invalid size (use a number with an optional K, M, G or T suffix, e.g. 512M)"],
    ['nvdimm,memdev=m0,unarmed=x', "-device nvdimm,memdev=m0,unarmed=x: property 'unarmed' must be on or off, not 'x'"],
    ['nvdimm,memdev=m0,slot=x', "-device nvdimm,memdev=m0,slot=x: slot must be a slot number from 0 to (-m slots) - 1, not 'x'"],
    ['nvdimm,memdev=m0,addr=0x123', '-device nvdimm,memdev=m0,addr=0x123: addr=0x123 must be a multiple of 2M (0x200000)'],
    ['nvdimm,memdev=m0,addr=x', "-device nvdimm,memdev=m0,addr=x: addr must be a guest physical address such as 0x140000000 or 5G, not 'x'"],
    ['nvdimm,memdev=m0,uuid=zz', "-device nvdimm,memdev=m0,uuid=zz: uuid 'zz' is not a UUID (write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hex)"],
    ['virtio-pmem-pci,id=p0', '-device virtio-pmem-pci,id=p0: missing memdev= (the id of a -object memory-backend-file or memory-backend-ram)'],
    ['virtio-pmem-pci,memdev=m0,addr=40', "-device virtio-pmem-pci,memdev=m0,addr=40: addr '40' is not a PCI address (write SLOT[.FN] in hex, slot 0 to 1f, function 0 to 7, e.g. addr=4 or addr=4.0)"],
    ['virtio-pmem-pci,memdev=m0,addr=4.8', "-device virtio-pmem-pci,memdev=m0,addr=4.8: addr '4.8' is not a PCI address (write SLOT[.FN] in hex, slot 0 to 1f, function 0 to 7, e.g. addr=4 or addr=4.0)"],
    ['virtio-pmem-pci,memdev=m0,foo=1', "-device virtio-pmem-pci,memdev=m0,foo=1: unknown property 'foo'; virtio-pmem-pci takes: memdev, addr"],
  ];
  for (const [arg, want] of cases) {
    const [spec] = parseArgs(['-device', arg]).devices;
    assert.throws(() => parseDevice(spec), (e: unknown) => e instanceof UserError && e.message === want, arg);
  }
});
