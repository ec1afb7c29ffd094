// The live device set (src/machine/memory-devices.ts) as hotplug uses it: devices added
// at run time get the command line's checks and placement, a refusal leaves no slot or
// address taken, and an unplugged virtio-pmem device frees its range and PCI slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevices } from '../../src/machine/memory-devices.js';
import { openBackend, type BackendSpec } from '../../src/memory/backend.js';
import { UserError } from '../../src/errors.js';

const MiB = 2 ** 20;
const ram = (id: string, size: number): BackendSpec => ({ id, kind: 'ram', size: BigInt(size), share: false, pmem: false, readonly: false, discardData: false });

function open(slots: number, maxmem: number, backends: BackendSpec[]) {
  return MemoryDevices.open({ ramSize: 256 * MiB, slots, maxmem, backends, nvdimms: [] });
}

test('device_add of an NVDIMM: placed like a cold one, marked hotplugged; refusals change nothing', () => {
  const d = open(1, 1024 * MiB, [ram('a', 128 * MiB), ram('b', 128 * MiB), ram('big', 1024 * MiB)]);
  try {
    const before = d.allocator.plan();
    assert.throws(() => d.addNvdimm({ id: 'x', memdev: 'big', labelSize: 0, unarmed: false }),
      (e: unknown) => e instanceof UserError && /not enough space, currently 0x0 in use of total space for memory devices 0x30000000/.test(e.message));
    assert.deepEqual(d.allocator.plan(), before, 'no address or slot taken');
    assert.equal(d.nvdimms.length, 0);
    const n = d.addNvdimm({ id: 'nv1', memdev: 'a', labelSize: 128 * 1024, unarmed: false });
    assert.equal(n.hotplugged, true);
    assert.equal(n.addr, d.region.base);
    assert.equal(n.slot, 0);
    assert.equal(n.size, 128 * MiB - 2 * MiB, 'the label area and alignment as on the command line');
    assert.throws(() => d.addNvdimm({ id: 'nv2', memdev: 'b', labelSize: 0, unarmed: false }), /no free slots available/);
    assert.deepEqual(d.nvdimms, [n]);
    assert.deepEqual(d.busyBackends(), new Set(['a']));
    assert.deepEqual(d.deviceIds(), new Set(['nv1']));
    d.removeNvdimm(n);
    assert.deepEqual(d.allocator.plan(), before, 'a device the machine refused gives everything back');
  } finally {
    d.close();
  }
});

test('virtio-pmem: added, removed, and the freed range and PCI slot are reused', () => {
  const d = open(0, 1024 * MiB, [ram('a', 128 * MiB), ram('b', 64 * MiB)]);
  try {
    const p = d.addVirtioPmem({ id: 'vp', memdev: 'a' });
    assert.deepEqual([p.pciSlot, p.addr, p.hotplugged], [2, d.region.base, true]);
    assert.throws(() => d.addVirtioPmem({ id: 'vp2', memdev: 'b', pciSlot: 2 }), /PCI slot 2 is already taken/);
    assert.equal(d.allocator.plan().devices.length, 1, 'the refused device took no address');
    assert.throws(() => d.deleteBackend('a'), /in use/);
    d.removeVirtioPmem(p);
    assert.equal(d.virtioPmems.length, 0);
    assert.equal(d.deleteBackend('a'), true);
    assert.equal(d.backends.has('a'), false);
    const q = d.addVirtioPmem({ id: 'vp3', memdev: 'b' });
    assert.deepEqual([q.pciSlot, q.addr], [2, d.region.base]);
    d.addBackend(openBackend(ram('c', 64 * MiB)));
    assert.equal(d.addVirtioPmem({ memdev: 'c' }).pciSlot, 3);
  } finally {
    d.close();
  }
});

test('flush-hint=on: a hot-added NVDIMM gets its hint served (the backend fd), reported, and given back when the machine refuses it; a RAM backend gets a warning', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmemvm-live-'));
  const warnings: string[] = [];
  const file: BackendSpec = { id: 'f', kind: 'file', size: BigInt(64 * MiB), memPath: path.join(dir, 'f.img'), share: true, pmem: false, readonly: false, discardData: false };
  const d = MemoryDevices.open({ ramSize: 256 * MiB, slots: 2, maxmem: 1024 * MiB, backends: [file, ram('r', 64 * MiB)], nvdimms: [] },
    { warn: (m) => warnings.push(m) });
  try {
    const n = d.addNvdimm({ id: 'nv1', memdev: 'f', labelSize: 0, unarmed: false, flushHint: true });
    assert.equal(n.flushHint, true);
    assert.equal(d.flushHints.has(n.slot), true);
    assert.equal(d.flushHints.flushSync(n.slot), 0);
    const [entry] = d.durabilityReport();
    assert.deepEqual(entry!.flushHint, { requests: 1, flushes: 1, errors: 0 });
    assert.equal(entry!.crashSafe, true);
    assert.match(d.durabilityLines()[0]!, /^nv1: f \(.*f\.img\) is crash-safe \[page-cache\]: what the guest flushes \(fsync, fdatasync, msync, O_DSYNC writes/);
    assert.deepEqual(warnings, []);
    d.removeNvdimm(n);
    assert.equal(d.flushHints.has(n.slot), false, 'a refused device leaves no hint behind');

    const m = d.addNvdimm({ id: 'nv2', memdev: 'r', labelSize: 0, unarmed: false, flushHint: true });
    assert.equal(d.flushHints.has(m.slot), true, 'the guest keeps the hint it asked for');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^nvdimm 'nv2': flush-hint=on is not needed: memdev 'r' writes nothing back to a file/);
    // Off (the default): no hint, and the report is as before.
    const o = d.addNvdimm({ id: 'nv3', memdev: 'f', labelSize: 0, unarmed: false });
    assert.equal(d.flushHints.has(o.slot), false);
    assert.equal('flushHint' in d.durabilityReport().find((x) => x.device === 'nv3')!, false);
  } finally {
    d.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
