// The PCI host bridge: config space masks, mechanism #1 dispatch through the
// shared latch, and its DSDT description disassembled by iasl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PciConfigSpace } from '../../src/devices/pci/config-space.js';
import { PciHost, i440fxHostBridge } from '../../src/devices/pci/host-bridge.js';
import { pciHostDevice } from '../../src/acpi/pci-host.js';
import { buildDsdt } from '../../src/acpi/tables.js';

test('config space: identity reads, only writable bits change, reads past 256 bytes are all ones', () => {
  const c = i440fxHostBridge();
  assert.equal(c.read(0, 4), 0x12378086);
  assert.equal(c.read(8, 4), 0x06000002); // class 06 00 00, revision 2
  assert.equal(c.read(0x2c, 4), 0x11001af4);
  c.write(0, 4, 0xffffffff);
  assert.equal(c.read(0, 4), 0x12378086, 'vendor/device are read-only');
  c.write(4, 2, 0xffff);
  assert.equal(c.read(4, 2), 0x0547);
  c.write(0x3c, 1, 0x0b);
  assert.equal(c.read(0x3c, 1), 0x0b);
  assert.equal(c.read(0xfe, 4), 0xffff0000);
});

test('mechanism #1: the latch picks bus/device/function/register; absent functions read all ones', () => {
  let latch = 0;
  const present: string[] = [];
  const host = new PciHost({ current: () => latch, setPresent: (b, d, on) => present.push(`${b}:${d}:${on}`) });
  host.add(0, 0, i440fxHostBridge());
  const other = new PciConfigSpace({ vendor: 0x1af4, device: 0x105b, revision: 1, classCode: 0x018000 });
  host.add(3, 0, other);
  assert.deepEqual(present, ['0:0:true', '0:3:true']);
  const at = (dev: number, fn: number, reg: number) => (0x8000_0000 | (dev << 11) | (fn << 8) | reg) >>> 0;
  latch = at(0, 0, 0);
  assert.equal(host.read(0, 4), 0x12378086);
  assert.equal(host.read(2, 2), 0x1237);
  latch = at(3, 0, 0);
  assert.equal(host.read(0, 4), 0x105b1af4);
  latch = at(3, 1, 0); // function 1 of a present device
  assert.equal(host.read(0, 4), 0xffffffff);
  assert.equal(host.read(0, 2), 0xffff);
  latch = at(0, 0, 0) & 0x7fffffff; // not enabled
  assert.equal(host.read(0, 4), 0xffffffff);
  assert.throws(() => host.add(3, 0, other));
});

test('PCI0 in the DSDT: iasl shows the bus range, the config ports and the windows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-pci-'));
  try {
    writeFileSync(join(dir, 'dsdt.dat'), buildDsdt([pciHostDevice({
      mmio32: { base: 0x20000000, end: 0xfebfffff }, mmio64: { base: 0x300000000n, size: 0x800000000n },
    })]));
    const r = spawnSync('iasl', ['-d', 'dsdt.dat'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /error|warning/i);
    const dsl = readFileSync(join(dir, 'dsdt.dsl'), 'utf8').replace(/\s+/g, ' ');
    assert.match(dsl, /Device \(PCI0\) \{ Name \(_HID, EisaId \("PNP0A03"\)/);
    assert.match(dsl, /WordBusNumber \(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, \/\/ Granularity 0x0000, \/\/ Range Minimum 0x00FF,/);
    assert.match(dsl, /IO \(Decode16, 0x0CF8, \/\/ Range Minimum 0x0CF8, \/\/ Range Maximum 0x01, \/\/ Alignment 0x08, \/\/ Length \)/);
    assert.match(dsl, /0x0D00, \/\/ Range Minimum 0xFFFF,/);
    assert.match(dsl, /DWordMemory \(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0x00000000, \/\/ Granularity 0x20000000, \/\/ Range Minimum 0xFEBFFFFF,/);
    assert.match(dsl, /QWordMemory \(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0x0000000000000000, \/\/ Granularity 0x0000000300000000, \/\/ Range Minimum 0x0000000AFFFFFFFF,/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
