// The NVDIMM root device AML: byte-exact against what iasl compiles from the
// equivalent ASL, and disassembled again without errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as aml from '../../src/acpi/aml.js';
import { iasl } from '../lib/iasl.js';
import { amlTable } from '../../src/acpi/table.js';
import { nvdimmDeviceName, nvdimmRootDevice } from '../../src/acpi/nvdimm-root.js';


test('NVDIMM root device: children NVxx named by slot, _ADR = NFIT handle', () => {
  assert.deepEqual([0, 1, 10, 255].map(nvdimmDeviceName), ['NV00', 'NV01', 'NV0A', 'NVFF']);
  assert.throws(() => nvdimmDeviceName(256), RangeError);
});

test('NVDIMM root device: needs a slot for every NVDIMM, and at least one slot', () => {
  assert.throws(() => nvdimmRootDevice({ slots: 0, dimms: [] }), RangeError);
  assert.throws(() => nvdimmRootDevice({ slots: 2, dimms: [{ slot: 2, labels: false, writable: true }] }), RangeError);
  assert.throws(() => nvdimmRootDevice({ slots: 2, dimms: [{ slot: 1, labels: false, writable: true }, { slot: 1, labels: true, writable: true }] }), RangeError);
});

test('NVDIMM root device AML: iasl disassembles it cleanly and recompiles its listing to the same bytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-nvdimm-aml-'));
  try {
    const ours = aml.scope('\\_SB', nvdimmRootDevice({
      slots: 7,
      dimms: [
        { slot: 3, labels: true, writable: true },
        { slot: 0, labels: false, writable: true },
        { slot: 5, labels: true, writable: false },
      ],
    }));
    writeFileSync(join(dir, 'ours.dat'), amlTable('SSDT', ours));
    const out = iasl(dir, ['-d', 'ours.dat']);
    assert.doesNotMatch(out, /error|warning/i, out);
    const dsl = readFileSync(join(dir, 'ours.dsl'), 'utf8');
    assert.match(dsl, /Name \(_HID, "ACPI0012"/);
    assert.match(dsl, /Method \(NCAL, 5, Serialized\)/);
    assert.match(dsl, /OperationRegion \(NPIO, SystemIO, 0x0A18, 0x04\)/);
    assert.match(dsl, /OperationRegion \(NRAM, SystemMemory, 0x000FE000, 0x1000\)/);
    const devices = dsl.split(/Device \(/).slice(1);
    const dev = (n: string) => devices.find((d) => d.startsWith(`${n})`)) ?? '';
    assert.deepEqual(devices.map((d) => d.slice(0, 4)), ['NVDR', 'NV00', 'NV01', 'NV02', 'NV03', 'NV04', 'NV05', 'NV06'], 'a child per slot');
    assert.match(dev('NV00'), /Name \(_ADR, One\)/);
    assert.doesNotMatch(dev('NV00'), /_LSI/);
    assert.match(dev('NV06'), /Name \(_ADR, 0x07\)[\s\S]*Method \(_DSM, 4/, 'an empty slot has _ADR and _DSM');
    assert.doesNotMatch(dev('NV06'), /_LS/, 'an empty slot has no label methods');
    // NCAL sends handle 0x10000 with the read-FIT UUID, and the root has _FIT.
    assert.match(dev('NVDR'), /ElseIf \(\(Arg4 == 0x00010000\)\)\s*\{\s*Local0 = ToUUID \("648b9cf2-cda1-4312-8ad9-49c4af32bd62"\)/);
    assert.match(dev('NVDR'), /Method \(_FIT, 0, Serialized\)/);
    assert.match(dev('NV03'), /Name \(_ADR, 0x04\)[\s\S]*_LSI[\s\S]*_LSR[\s\S]*_LSW/);
    assert.match(dev('NV05'), /_LSR/);
    assert.doesNotMatch(dev('NV05'), /_LSW/, 'a read-only NVDIMM has no _LSW');

    // Byte check: iasl compiles its own listing back to exactly our AML.
    iasl(dir, ['-p', 'again', 'ours.dsl']);
    const again = new Uint8Array(readFileSync(join(dir, 'again.aml')));
    assert.equal(Buffer.from(again.subarray(36)).toString('hex'), Buffer.from(ours).toString('hex'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
