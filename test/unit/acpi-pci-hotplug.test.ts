// ACPI PCI hotplug AML: byte for byte what iasl (20200925) compiles from the
// ASL below (QEMU 7.2's shapes: Sxx devices named after the devfn, PCNT/DVNT,
// the PCST/SEJ regions at 0xAE00 and the PHPR device that claims them), and
// the pc DSDT with it disassembled by iasl without errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as aml from '../../src/acpi/aml.js';
import { compileAsl, iasl } from '../lib/iasl.js';
import { buildDsdt } from '../../src/acpi/tables.js';
import { PCIHP_IO_BASE, PCIHP_IO_SIZE, pciHotplugTerms, pcHotplugSlots, slotDeviceName } from '../../src/acpi/pci-hotplug.js';
import { pciHostDevice } from '../../src/acpi/pci-host.js';
import { gedDevice, pciHotplugEvent, powerButtonDevice, powerDownEvent } from '../../src/acpi/ged.js';
import { ACPI_POWER } from '../../src/acpi/power.js';
import { DSM_DOORBELL_PORT } from '../../src/acpi/nvdimm-dsm-abi.js';
import { QUIET_LEGACY_PORTS } from '../../src/devices/legacy.js';

const compile = compileAsl;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const h = (n: number, digits = 2) => `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;
/** iasl's spelling of an integer constant. */
const int = (n: number) => (n === 1 ? 'One' : n <= 0xff ? h(n) : n <= 0xffff ? h(n, 4) : h(n, 8));

/** The ASL of the hotplug terms for `slots` (ascending). */
function hotplugAsl(slots: number[]): string {
  const name = (s: number) => `S${h(s << 3).slice(2)}`;
  return `
    OperationRegion (PCST, SystemIO, 0xAE00, 0x08)
    Field (PCST, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32 }
    OperationRegion (SEJ, SystemIO, 0xAE08, 0x04)
    Field (SEJ, DWordAcc, NoLock, WriteAsZeros) { B0EJ, 32 }
    Device (PHPR)
    {
        Name (_HID, "PNP0A06")
        Name (_UID, "PCI Hotplug resources")
        Name (_STA, 0x0B)
        Name (_CRS, ResourceTemplate () { IO (Decode16, 0xAE00, 0xAE00, 0x01, 0x18, ) })
    }
${slots.map((s) => `    Device (${name(s)})
    {
        Name (_ADR, ${int(s << 16)})
        Name (_SUN, ${int(s)})
        Method (_EJ0, 1, NotSerialized) { B0EJ = ${int(2 ** s)} }
    }`).join('\n')}
    Method (DVNT, 2, NotSerialized)
    {
${slots.map((s) => `        If ((Arg0 & ${int(2 ** s)})) { Notify (${name(s)}, Arg1) }`).join('\n')}
    }
    Method (PCNT, 0, NotSerialized)
    {
        DVNT (PCIU, One)
        DVNT (PCID, 0x03)
    }`;
}

test('slot devices are named as QEMU names them: S and the devfn of function 0', () => {
  assert.equal(slotDeviceName(1), 'S08');
  assert.equal(slotDeviceName(2), 'S10');
  assert.equal(slotDeviceName(31), 'SF8');
  assert.throws(() => slotDeviceName(0), RangeError); // the host bridge
  assert.throws(() => slotDeviceName(32), RangeError);
});

test('the hotplug terms in PCI0, byte for byte as iasl compiles the ASL (slots 1, 2, 17, 31)', () => {
  const ours = aml.scope('\\_SB', aml.device('PCI0', aml.name('_HID', aml.str('PNP0A03')), ...pciHotplugTerms([31, 2, 17, 1])));
  assert.equal(hex(ours), compile(`Scope (\\_SB)\n{\nDevice (PCI0)\n{\nName (_HID, "PNP0A03")\n${hotplugAsl([1, 2, 17, 31])}\n}\n}`));
});

test('the pc machine\'s slots (2..31), byte for byte as iasl compiles the ASL', () => {
  const slots = pcHotplugSlots();
  assert.deepEqual(slots, Array.from({ length: 30 }, (_, i) => i + 2));
  const ours = aml.scope('\\_SB', aml.device('PCI0', aml.name('_HID', aml.str('PNP0A03')), ...pciHotplugTerms(slots)));
  assert.equal(hex(ours), compile(`Scope (\\_SB)\n{\nDevice (PCI0)\n{\nName (_HID, "PNP0A03")\n${hotplugAsl(slots)}\n}\n}`));
});

test('pcHotplugSlots: a cold-plugged device in slot 1 makes slot 1 hotpluggable too; slots once each', () => {
  assert.deepEqual(pcHotplugSlots([1, 2, 5]).slice(0, 3), [1, 2, 3]);
  assert.equal(pcHotplugSlots([1, 2, 5]).length, 31);
  assert.throws(() => pciHotplugTerms([2, 2]), /twice/);
  assert.throws(() => pciHotplugTerms([0]), RangeError);
});

test('the register block is clear of every other port the machine decodes', () => {
  const end = PCIHP_IO_BASE + PCIHP_IO_SIZE;
  const taken: [number, number, string][] = [
    [ACPI_POWER.sleepControlPort, 1, 'sleep control'], [ACPI_POWER.sleepStatusPort, 1, 'sleep status'], [ACPI_POWER.resetPort, 1, 'reset'],
    [DSM_DOORBELL_PORT, 4, 'NVDIMM _DSM doorbell'], [0xcf8, 8, 'PCI config'], [0x3f8, 8, 'COM1'], [0x60, 5, 'i8042'], [0x70, 2, 'RTC'],
    ...QUIET_LEGACY_PORTS.map((p) => [p.base, p.len, p.name] as [number, number, string]),
  ];
  for (const [base, len, what] of taken) assert.ok(base + len <= PCIHP_IO_BASE || base >= end, `overlaps ${what}`);
});

test('the pc DSDT with PCI hotplug and the GED event: iasl disassembles it without errors; _EVT calls PCNT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-pcihp-dsdt-'));
  try {
    const dsdt = buildDsdt([
      powerButtonDevice(),
      gedDevice({ events: [powerDownEvent, pciHotplugEvent] }),
      pciHostDevice({ mmio32: { base: 0x20000000, end: 0xfebfffff }, hotplugSlots: pcHotplugSlots([2]) }),
    ]);
    writeFileSync(join(dir, 'dsdt.dat'), dsdt);
    const out = iasl(dir, ['-d', 'dsdt.dat']);
    assert.doesNotMatch(out, /error|warning/i, out);
    const flat = readFileSync(join(dir, 'dsdt.dsl'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/\s+/g, ' ');
    assert.match(flat, /If \(\(\(Local0 & 0x10\) == 0x10\)\) \{ \\_SB.PCI0.PCNT \(\) \}/);
    assert.match(flat, /Device \(PCI0\) \{ .* Device \(S10\) \{ Name \(_ADR, 0x00020000\) Name \(_SUN, 0x02\) Method \(_EJ0, 1, NotSerialized\) \{ B0EJ = 0x04 \}/);
    assert.match(flat, /Device \(SF8\)/);
    assert.doesNotMatch(flat, /Device \(S08\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
