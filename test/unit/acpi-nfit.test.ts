// NFIT layout: structure order, offsets and the QEMU-style indexes.
// (iasl disassembly of an NFIT is covered in acpi-tables.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildNfit, dcrIndex, MEMDEV_NOT_ARMED, nfitHandle, spaIndex } from '../../src/acpi/nfit.js';

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const sum8 = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);

function structures(nfit: Uint8Array): { type: number; body: Uint8Array }[] {
  const v = view(nfit);
  const out: { type: number; body: Uint8Array }[] = [];
  for (let off = 40; off < nfit.length; off += v.getUint16(off + 2, true)) {
    out.push({ type: v.getUint16(off, true), body: nfit.subarray(off, off + v.getUint16(off + 2, true)) });
  }
  return out;
}

test('NFIT: header, reserved word, and SPA/memdev/DCR per DIMM', () => {
  const nfit = buildNfit({
    dimms: [
      { slot: 0, base: 0x140000000, size: 0x40000000, unarmed: false },
      { slot: 3, base: 0x180000000n, size: 0x20000000, unarmed: true, node: 1 },
    ],
  });
  assert.equal(String.fromCharCode(...nfit.subarray(0, 4)), 'NFIT');
  assert.equal(view(nfit).getUint32(4, true), nfit.length);
  assert.equal(nfit[8], 1);
  assert.equal(sum8(nfit), 0);
  assert.equal(view(nfit).getUint32(36, true), 0);
  assert.equal(nfit.length, 40 + 2 * (56 + 48 + 80));
  const s = structures(nfit);
  assert.deepEqual(s.map((x) => x.type), [0, 1, 4, 0, 1, 4]);

  const spa = view(s[3]!.body);
  assert.equal(spa.getUint16(2, true), 56);
  assert.equal(spa.getUint16(4, true), spaIndex(3));
  assert.equal(spa.getUint16(6, true), 0b11); // add/online only, proximity valid
  assert.equal(spa.getUint32(12, true), 1);
  assert.equal(Buffer.from(s[3]!.body.subarray(16, 32)).toString('hex'), '79d3f066f3b47440ac430d3318b78cdb');
  assert.equal(spa.getBigUint64(32, true), 0x180000000n);
  assert.equal(spa.getBigUint64(40, true), 0x20000000n);
  assert.equal(spa.getBigUint64(48, true), 0x8008n); // EFI_MEMORY_WB | EFI_MEMORY_NV

  const mem = view(s[4]!.body);
  assert.equal(mem.getUint16(2, true), 48);
  assert.equal(mem.getUint32(4, true), nfitHandle(3));
  assert.equal(mem.getUint16(12, true), spaIndex(3));
  assert.equal(mem.getUint16(14, true), dcrIndex(3));
  assert.equal(mem.getBigUint64(16, true), 0x20000000n);
  assert.equal(mem.getBigUint64(24, true), 0n);
  assert.equal(mem.getUint16(42, true), 1); // interleave ways
  assert.equal(mem.getUint16(44, true), MEMDEV_NOT_ARMED);
  assert.equal(view(s[1]!.body).getUint16(44, true), 0); // slot 0 is armed

  const dcr = view(s[5]!.body);
  assert.equal(dcr.getUint16(2, true), 80);
  assert.equal(dcr.getUint16(4, true), dcrIndex(3));
  assert.deepEqual([6, 8, 10, 12, 14, 16].map((o) => dcr.getUint16(o, true)), [0x8086, 1, 1, 0, 0, 0]);
  assert.equal(dcr.getUint32(24, true), 0x123456 + 3);
  assert.equal(dcr.getUint16(28, true), 0x0301);
  assert.equal(dcr.getUint16(30, true), 0); // no block control windows
});

test('NFIT: flush-hint adds a Flush Hint Address structure (type 6) after the DIMM\'s DCR, and only for that DIMM', () => {
  const nfit = buildNfit({
    dimms: [
      { slot: 0, base: 0x140000000, size: 0x40000000, unarmed: false },
      { slot: 2, base: 0x180000000, size: 0x20000000, unarmed: false, flushHint: 0xfede0010 },
    ],
  });
  assert.equal(sum8(nfit), 0);
  const s = structures(nfit);
  assert.deepEqual(s.map((x) => x.type), [0, 1, 4, 0, 1, 4, 6]);
  const hint = view(s[6]!.body);
  assert.equal(hint.getUint16(2, true), 24); // 16 + one 8-byte address
  assert.equal(hint.getUint32(4, true), nfitHandle(2)); // the memdev's device handle
  assert.equal(hint.getUint16(8, true), 1); // hint count
  assert.deepEqual([...s[6]!.body.subarray(10, 16)], [0, 0, 0, 0, 0, 0]);
  assert.equal(hint.getBigUint64(16, true), 0xfede0010n);
  assert.equal(nfit.length, 40 + 2 * (56 + 48 + 80) + 24);
});

test('NFIT: QEMU index scheme', () => {
  assert.deepEqual([0, 1, 2].map(nfitHandle), [1, 2, 3]);
  assert.deepEqual([0, 1, 2].map(spaIndex), [2, 4, 6]);
  assert.deepEqual([0, 1, 2].map(dcrIndex), [3, 5, 7]);
});

test('NFIT: platform capabilities follow the persistence domain', () => {
  const dimms = [{ slot: 0, base: 0x100000000, size: 0x10000000, unarmed: false }];
  assert.ok(!structures(buildNfit({ dimms })).some((x) => x.type === 7));
  for (const [persistence, caps] of [['cpu', 0b11], ['mem-ctrl', 0b10]] as const) {
    const cap = structures(buildNfit({ dimms, persistence })).at(-1)!;
    assert.equal(cap.type, 7);
    assert.equal(cap.body.length, 16);
    assert.equal(cap.body[4], 1); // highest valid capability bit
    assert.equal(view(cap.body).getUint32(8, true), caps);
  }
});

test('NFIT: rejects duplicate or out-of-range slots and empty DIMMs', () => {
  const d = { base: 0x100000000, size: 0x10000000, unarmed: false };
  assert.throws(() => buildNfit({ dimms: [{ slot: 0, ...d }, { slot: 0, ...d }] }), RangeError);
  assert.throws(() => buildNfit({ dimms: [{ slot: -1, ...d }] }), RangeError);
  assert.throws(() => buildNfit({ dimms: [{ slot: 0x7fff, ...d }] }), RangeError);
  assert.throws(() => buildNfit({ dimms: [{ slot: 0, ...d, size: 0 }] }), RangeError);
});

test('NFIT: the body is byte-for-byte what QEMU 7.2 gives its guest for the same two DIMMs', () => {
  // Dumped from /sys/firmware/acpi/tables/NFIT in a guest of qemu-system-x86_64 7.2:
  // -machine pc,nvdimm=on,nvdimm-persistence=cpu -m 512M,slots=4,maxmem=4G,
  // nvdimm 256M (slot 0) then nvdimm 128M unarmed=on (slot 1).
  const qemu = readFileSync(new URL('../../../test/fixtures/qemu-7.2-nfit-2dimms-cpu.bin', import.meta.url));
  const ours = buildNfit({
    dimms: [
      { slot: 0, base: 0x100000000, size: 0x10000000, unarmed: false },
      { slot: 1, base: 0x110000000, size: 0x8000000, unarmed: true },
    ],
    persistence: 'cpu',
  });
  assert.equal(ours.length, qemu.length);
  // Everything after the OEM fields of the header (and so the checksum) must match.
  assert.equal(Buffer.from(ours.subarray(36)).toString('hex'), Buffer.from(qemu.subarray(36)).toString('hex'));
  assert.equal(Buffer.from(ours.subarray(0, 9)).toString('hex'), Buffer.from(qemu.subarray(0, 9)).toString('hex'));
});
