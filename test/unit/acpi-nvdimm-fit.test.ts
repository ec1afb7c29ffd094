// The root device's _FIT (with its helper FITR) and an empty slot's child
// device: byte for byte what iasl compiles from the ASL below. NCAL is a stub
// here (acpi-nvdimm.test.ts checks the real one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as aml from '../../src/acpi/aml.js';
import { compileAsl } from '../lib/iasl.js';
import { nvdimmFitMethods, nvdimmSlotDevice } from '../../src/acpi/nvdimm-root.js';

const compile = compileAsl;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const NCAL_STUB = 'Name (_HID, "ACPI0012") Method (NCAL, 5, Serialized) { Return (Arg0) }';
const ncalStub = () => aml.concat(aml.name('_HID', aml.str('ACPI0012')), aml.method('NCAL', { args: 5, serialized: true }, aml.ret(aml.arg(0))));

test('_FIT: reads chunks through handle 0x10000 from offset 0 up, restarts on status 0x100, ends on an empty chunk', () => {
  const ours = aml.device('NVDR', ncalStub(), ...nvdimmFitMethods());
  const want = compile(`
    Device (NVDR)
    {
        ${NCAL_STUB}
        Name (FITS, Zero)
        Method (FITR, 1, Serialized)
        {
            Name (OFFB, Buffer (0x04) {})
            CreateDWordField (OFFB, Zero, OFFS)
            OFFS = Arg0
            Local2 = OFFB
            Local0 = Package (0x01) { Zero }
            Local0 [Zero] = Local2
            Local3 = NCAL (ToUUID ("648b9cf2-cda1-4312-8ad9-49c4af32bd62"), One, One, Local0, 0x00010000)
            CreateDWordField (Local3, Zero, STTS)
            FITS = STTS
            If ((STTS != Zero))
            {
                Return (Buffer (Zero) {})
            }
            Return (Mid (Local3, 0x04, SizeOf (Local3)))
        }
        Method (_FIT, 0, Serialized)
        {
            Local0 = Buffer (Zero) {}
            Local1 = Zero
            Local3 = One
            While (Local3)
            {
                Local2 = FITR (Local1)
                If ((FITS == 0x0100))
                {
                    Local0 = Buffer (Zero) {}
                    Local1 = Zero
                }
                Else
                {
                    Local3 = SizeOf (Local2)
                    Local1 += Local3
                    Concatenate (Local0, Local2, Local0)
                }
            }
            Return (Local0)
        }
    }`);
  assert.equal(hex(ours), want);
});

test('a slot with no NVDIMM at boot: _ADR (its NFIT handle) and _DSM, no label methods', () => {
  const ours = aml.device('NVDR', ncalStub(), nvdimmSlotDevice(2));
  const want = compile(`
    Device (NVDR)
    {
        ${NCAL_STUB}
        Device (NV02)
        {
            Name (_ADR, 0x03)
            Method (_DSM, 4, NotSerialized)
            {
                Return (NCAL (Arg0, Arg1, Arg2, Arg3, 0x03))
            }
        }
    }`);
  assert.equal(hex(ours), want);
  // A DIMM in the slot at boot without labels looks the same.
  assert.equal(hex(nvdimmSlotDevice(2, { slot: 2, labels: false, writable: true })), hex(nvdimmSlotDevice(2)));
});
