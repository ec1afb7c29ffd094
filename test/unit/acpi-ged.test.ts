// The ACPI Generic Event Device and the power button: byte for byte what iasl
// (20200925) compiles from the ASL below, and the whole DSDT as the pc machine
// builds it disassembled by iasl without errors. (The whole DSDT is not recompiled:
// iasl would shorten \_SB.PWRB to PWRB and turn PCI0's VarPackage into a Package.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as aml from '../../src/acpi/aml.js';
import { compileAsl, iasl } from '../lib/iasl.js';
import { amlTable } from '../../src/acpi/table.js';
import { buildDsdt, buildMadt, IOAPIC_BASE, LAPIC_BASE, MADT_ENTRY } from '../../src/acpi/tables.js';
import {
  GED_EVENT, GED_IRQ, GED_MMIO_BASE, GED_MMIO_SIZE, gedDevice, gedEventMask, nvdimmHotplugEvent, powerButtonDevice, powerDownEvent,
} from '../../src/acpi/ged.js';
import { pciHostDevice } from '../../src/acpi/pci-host.js';
import { nvdimmRootDevice } from '../../src/acpi/nvdimm-root.js';


const compile = compileAsl;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The ASL of Device (GED) with these If blocks in _EVT. */
function gedAsl(base: string, gsi: string, ifs: string): string {
  return `
        Device (GED)
        {
            Name (_HID, "ACPI0013")
            Name (_UID, "GED")
            Name (_CRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )
                {
                    ${gsi},
                }
            })
            OperationRegion (EREG, SystemMemory, ${base}, 0x04)
            Field (EREG, DWordAcc, NoLock, WriteAsZeros)
            {
                ESEL,   32
            }
            Method (_EVT, 1, Serialized)
            {
                Local0 = ESEL
${ifs}
            }
        }`;
}

const PWRB_ASL = `
        Device (PWRB)
        {
            Name (_HID, "PNP0C0C")
            Name (_UID, Zero)
        }`;

const POWER_IF = `
                If (((Local0 & 0x02) == 0x02))
                {
                    Notify (\\_SB.PWRB, 0x80)
                }`;

test('GED + PWRB as the pc machine builds them, byte for byte as iasl compiles the ASL', () => {
  const ours = aml.scope('\\_SB', powerButtonDevice(), gedDevice({ events: [powerDownEvent] }));
  const want = compile(`Scope (\\_SB)\n{\n${PWRB_ASL}\n${gedAsl('0xFEDF0000', '0x00000009', POWER_IF)}\n}`);
  assert.equal(hex(ours), want);
});

test('GED with more events: one If per bit in the given order; base and GSI as given', () => {
  const nvdimmIf = `
                If (((Local0 & 0x04) == 0x04))
                {
                    Notify (\\_SB.NVDR, 0x80)
                }`;
  // A third bit, as memory hotplug will add one: any AML as the action.
  const memory = { bit: GED_EVENT.MEMORY_HOTPLUG, action: aml.call('\\_SB.MSCN') };
  const memoryIf = `
                If (((Local0 & One) == One))
                {
                    \\_SB.MSCN ()
                }`;
  const ours = aml.scope('\\_SB',
    powerButtonDevice(),
    aml.device('NVDR', aml.name('_HID', aml.str('ACPI0012'))),
    aml.method('MSCN', {}),
    gedDevice({ events: [powerDownEvent, nvdimmHotplugEvent, memory], base: 0xfea00000, gsi: 24 }));
  const want = compile(`Scope (\\_SB)\n{\n${PWRB_ASL}\nDevice (NVDR)\n{\nName (_HID, "ACPI0012")\n}\nMethod (MSCN, 0, NotSerialized)\n{\n}\n${gedAsl('0xFEA00000', '0x00000018', POWER_IF + nvdimmIf + memoryIf)}\n}`);
  assert.equal(hex(ours), want);
});

test('GED events: each one bit, each once', () => {
  assert.equal(gedEventMask([powerDownEvent]), 0x2);
  assert.equal(gedEventMask([powerDownEvent, nvdimmHotplugEvent]), 0x6);
  assert.equal(gedEventMask([{ bit: 0x80000000, action: new Uint8Array() }]), 0x80000000);
  assert.throws(() => gedDevice({ events: [powerDownEvent, powerDownEvent] }), /twice/);
  assert.throws(() => gedEventMask([{ bit: 3, action: new Uint8Array() }]), RangeError);
  assert.throws(() => gedEventMask([{ bit: 0, action: new Uint8Array() }]), RangeError);
  // QEMU's ACPI_GED_*_EVT values; PCI hotplug takes 0x10 (QEMU's 0x8 is CPU hotplug).
  assert.deepEqual(GED_EVENT, { MEMORY_HOTPLUG: 1, POWER_DOWN: 2, NVDIMM_HOTPLUG: 4, PCI_HOTPLUG: 0x10 });
});

test('GED placement: its register is clear of the PCI 32-bit window, the IOAPIC and the LAPIC/MSI range; IRQ 9 keeps the ISA default', () => {
  const end = GED_MMIO_BASE + GED_MMIO_SIZE - 1;
  assert.ok(GED_MMIO_BASE > 0xfebfffff, 'above the end of PCI0\'s 32-bit window (0xFEBFFFFF)');
  assert.ok(GED_MMIO_BASE >= IOAPIC_BASE + 0x1000, 'after the IOAPIC page');
  assert.ok(end < LAPIC_BASE, 'below the LAPIC / MSI range');
  assert.ok(end < 0xfed00000 || GED_MMIO_BASE > 0xfed44fff, 'clear of the usual HPET and TPM addresses');
  // The _CRS says Edge, ActiveHigh: the MADT must not override IRQ 9 to something else.
  const madt = buildMadt({ cpus: 4, ioapicId: 4 });
  for (let p = 44; p < madt.length; p += madt[p + 1]!) {
    if (madt[p] === MADT_ENTRY.INTERRUPT_OVERRIDE) {
      assert.notEqual(madt[p + 3], GED_IRQ, 'an interrupt source override for the GED\'s ISA IRQ');
      assert.notEqual(new DataView(madt.buffer, madt.byteOffset).getUint32(p + 4, true), GED_IRQ, 'an override onto GSI 9');
    }
  }
});

test('the pc DSDT with PWRB, GED, PCI0 and NVDR: iasl disassembles it without errors or warnings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-ged-dsdt-'));
  try {
    const dsdt = buildDsdt([
      powerButtonDevice(),
      gedDevice({ events: [powerDownEvent, nvdimmHotplugEvent] }),
      pciHostDevice({ mmio32: { base: 0x20000000, end: 0xfebfffff }, mmio64: { base: 0x300000000n, size: 0x800000000n } }),
      nvdimmRootDevice({ slots: 2, dimms: [{ slot: 0, labels: true, writable: true }] }),
    ]);
    writeFileSync(join(dir, 'dsdt.dat'), dsdt);
    const out = iasl(dir, ['-d', 'dsdt.dat']);
    assert.doesNotMatch(out, /error|warning/i, out);
    const dsl = readFileSync(join(dir, 'dsdt.dsl'), 'utf8');
    const flat = dsl.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/\s+/g, ' ').replace(/ \)/g, ')');
    const ged = flat.slice(flat.indexOf('Device (PWRB)'), flat.indexOf('Device (PCI0)'));
    assert.match(ged, /Device \(PWRB\) \{ Name \(_HID, "PNP0C0C"\)/);
    assert.match(ged, /Device \(GED\) \{ Name \(_HID, "ACPI0013"\)/);
    assert.match(ged, /Interrupt \(ResourceConsumer, Edge, ActiveHigh, Exclusive, ,,\) \{ 0x00000009, \}/);
    assert.match(ged, /OperationRegion \(EREG, SystemMemory, 0xFEDF0000, 0x04\)/);
    assert.match(ged, /Field \(EREG, DWordAcc, NoLock, WriteAsZeros\) \{ ESEL, 32 \}/);
    assert.match(ged, /Method \(_EVT, 1, Serialized\) \{ Local0 = ESEL If \(\(\(Local0 & 0x02\) == 0x02\)\) \{ Notify \(\\_SB.PWRB, 0x80\) \} If \(\(\(Local0 & 0x04\) == 0x04\)\) \{ Notify \(\\_SB.NVDR, 0x80\) \} \} \}/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the GED AML stands alone in a table iasl accepts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-ged-ssdt-'));
  try {
    writeFileSync(join(dir, 'ssdt.dat'), amlTable('SSDT', aml.scope('\\_SB', powerButtonDevice(), gedDevice({ events: [powerDownEvent] }))));
    assert.doesNotMatch(iasl(dir, ['-d', 'ssdt.dat']), /error|warning/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
