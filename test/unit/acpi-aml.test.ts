// Byte-exact vectors for the AML encoder. Expected bytes come from the ACPI
// spec and were cross-checked once by compiling the equivalent ASL (quoted
// in each case) with iasl 20200925.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as A from '../../src/acpi/aml.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('PkgLength: 1-4 byte forms at their boundaries', () => {
  const cases: [number, string][] = [
    [0, '00'],
    [63, '3f'],
    [64, '4004'],
    [4095, '4fff'],
    [4096, '800001'],
    [0xfffff, '8fffff'],
    [0x100000, 'c0000001'], // 1 MiB
    [0xfffffff, 'cfffffff'],
  ];
  for (const [v, want] of cases) assert.equal(hex(A.pkgLength(v)), want, `PkgLength(${v})`);
  assert.throws(() => A.pkgLength(0x10000000), RangeError);
});

test('withPkgLength counts its own bytes', () => {
  const head = (n: number) => hex(A.withPkgLength(new Uint8Array(n)).subarray(0, 4));
  assert.equal(head(62), '3f000000'); // 62 + 1 = 63 fits one byte
  assert.equal(head(63), '41040000'); // 63 + 2 = 65
  assert.equal(head(4093), '4fff0000'); // 4093 + 2 = 4095
  assert.equal(head(4094), '81000100'); // 4094 + 3 = 4097
  assert.equal(head(0xffffc), '8fffff00'); // 0xffffc + 3 = 0xfffff
  assert.equal(head(0xffffd), 'c1000001'); // needs the 4-byte form
  assert.equal(head(0x100000), 'c4000001'); // 1 MiB body
});

test('integers use the smallest encoding', () => {
  const cases: [number | bigint, string][] = [
    [0, '00'], // ZeroOp
    [1, '01'], // OneOp
    [2, '0a02'],
    [0xff, '0aff'],
    [0x100, '0b0001'],
    [0xffff, '0bffff'],
    [0x10000, '0c00000100'],
    [0xffffffff, '0cffffffff'],
    [2 ** 32, '0e0000000001000000'],
    [0xfffffffffffffffen, '0efeffffffffffffff'],
    [(1n << 64n) - 1n, 'ff'], // ~0: OnesOp
  ];
  for (const [v, want] of cases) assert.equal(hex(A.int(v)), want, `int(${v})`);
  assert.throws(() => A.int(-1), RangeError);
  assert.throws(() => A.int(1n << 64n), RangeError);
  assert.throws(() => A.int(2 ** 53), RangeError); // unsafe number: must be a bigint
});

test('NameSeg and NameString forms', () => {
  assert.equal(hex(A.nameSeg('PCI')), '5043495f'); // padded with '_'
  assert.equal(hex(A.nameString('_S5')), '5f53355f');
  assert.equal(hex(A.nameString('\\')), '5c00'); // root + NullName
  assert.equal(hex(A.nameString('\\_SB')), '5c5f53425f');
  assert.equal(hex(A.nameString('^FOO')), '5e464f4f5f');
  assert.equal(hex(A.nameString('^^FOO')), '5e5e464f4f5f');
  assert.equal(hex(A.nameString('_SB.PCI0')), '2e5f53425f50434930'); // DualNamePrefix
  assert.equal(hex(A.nameString('\\_SB.PCI0.Y')), '5c2f035f53425f50434930595f5f5f'); // MultiNamePrefix
  assert.throws(() => A.nameSeg('pci0'), RangeError);
  assert.throws(() => A.nameSeg('TOOLONG'), RangeError);
  assert.throws(() => A.nameSeg('0ABC'), RangeError);
  // Scope (\_SB) { Device (PCI0) { Device (X) { Name (^^FOO, 1) Name (^FOO, 2) Name (\FOO, 3) Name (\_SB.PCI0.Y, 4) } } }
  const tree = A.scope('\\_SB', A.device('PCI0', A.device('X', A.name('^^FOO', 1), A.name('^FOO', 2), A.name('\\FOO', 3), A.name('\\_SB.PCI0.Y', 4))));
  assert.equal(
    hex(tree),
    '103e5c5f53425f5b8236504349305b822f585f5f5f085e5e464f4f5f01085e464f4f5f0a02085c464f4f5f0a03085c2f035f53425f50434930595f5f5f0a04',
  );
});

test('String, Buffer, Package, VarPackage', () => {
  assert.equal(hex(A.str('abc')), '0d61626300');
  assert.equal(hex(A.buffer(Uint8Array.of(1, 2, 3))), '11060a03010203');
  // Name (B5, Buffer (0x40) {})
  assert.equal(hex(A.name('B5', A.buffer(new Uint8Array(0), 0x40))), '0842355f5f11030a40');
  // Name (P1, Package () { "abc", 0x12345678, Package () {} }) Name (P2, Package (0x100) {})
  const p = A.concat(A.name('P1', A.pkg(A.str('abc'), 0x12345678, A.pkg())), A.name('P2', A.varPkg(0x100)));
  assert.equal(hex(p), '0850315f5f120f030d616263000c785634121202000850325f5f13040b0001');
  // Name (\_S5, Package (4) {5, 5, 0, 0})
  assert.equal(hex(A.name('\\_S5', A.pkg(5, 5, 0, 0))), '085c5f53355f1208040a050a050000');
});

test('ToUUID byte order and EISAID compression', () => {
  // ToUUID ("66F0D379-B4F3-4074-AC43-0D3318B78CDB"): first three fields little-endian
  assert.equal(hex(A.toUUID('66F0D379-B4F3-4074-AC43-0D3318B78CDB')), '11130a1079d3f066f3b47440ac430d3318b78cdb');
  assert.equal(A.eisaId('PNP0A03'), 0x030ad041);
  assert.equal(A.eisaId('PNP0A08'), 0x080ad041);
  assert.equal(A.eisaId('PNP0501'), 0x0105d041);
  assert.equal(hex(A.name('E0', A.eisaId('PNP0A03'))), '0845305f5f0c41d00a03');
  assert.throws(() => A.eisaId('pnp0a03'), RangeError);
});

test('Method, control flow and expressions', () => {
  // Method (M1, 3, Serialized) { Store (Arg0, Local0) Add (Local0, 2, Local1)
  //   Subtract (Local1, Arg1, Local2) ShiftLeft (Local2, 3, Local3) And (Local3, 0xFF00, Local4)
  //   Or (Local4, Arg2, Local5) If (LEqual (Local5, 1)) { Return (1) } Else { Return (Zero) }
  //   While (LLess (Local0, 10)) { Add (Local0, 1, Local0) }
  //   If (LAnd (LGreater (Local0, 1), LNot (Local1))) { Notify (\_SB, 0x80) }
  //   Return (DerefOf (Index (Arg0, 1))) }
  const m1 = A.method(
    'M1',
    { args: 3, serialized: true },
    A.store(A.arg(0), A.local(0)),
    A.add(A.local(0), 2, A.local(1)),
    A.subtract(A.local(1), A.arg(1), A.local(2)),
    A.shiftLeft(A.local(2), 3, A.local(3)),
    A.and(A.local(3), 0xff00, A.local(4)),
    A.or(A.local(4), A.arg(2), A.local(5)),
    A.ifOp(A.lEqual(A.local(5), 1), A.ret(1)),
    A.elseOp(A.ret(0)),
    A.whileOp(A.lLess(A.local(0), 10), A.add(A.local(0), 1, A.local(0))),
    A.ifOp(A.lAnd(A.lGreater(A.local(0), 1), A.lNot(A.local(1))), A.notify(A.ref('\\_SB'), 0x80)),
    A.ret(A.derefOf(A.index(A.arg(0), 1))),
  );
  assert.equal(
    hex(m1),
    '144d044d315f5f0b70686072600a02617461696279620a03637b630b00ff647d646a65a006936501a401a103a400a20995600a0a72600160a00f909460019261865c5f53425f0a80a48388680100',
  );
  // Method (M3) { M1 (1, 2, 3) Store (\_SB.COM1._STA (), Local0) }
  const m3 = A.method('M3', {}, A.call('M1', 1, 2, 3), A.store(A.call('\\_SB.COM1._STA'), A.local(0)));
  assert.equal(hex(m3), '14204d335f5f004d315f5f010a020a03705c2f035f53425f434f4d315f53544160');
  assert.equal(hex(A.add(1, 2)), '72010a0200'); // no target: NullName
  assert.equal(hex(A.shiftRight(A.local(0), 4, A.local(1))), '7a600a0461');
  assert.equal(hex(A.lOr(A.arg(0), A.arg(1))), '916869');
  assert.equal(hex(A.method('_DSM', { args: 4, serialized: true, syncLevel: 2 })), '14065f44534d2c');
  assert.throws(() => A.local(8), RangeError);
  assert.throws(() => A.arg(7), RangeError);
  assert.throws(() => A.method('X', { args: 8 }), RangeError);
});

test('buffer fields, OperationRegion and Field', () => {
  // Method (M2, 1) { CreateDWordField (Arg0, 4, DW0) CreateQWordField (Arg0, 8, QW0)
  //   CreateField (Arg0, 128, 0x400, FLD0) Return (SizeOf (Arg0)) }
  const m2 = A.method(
    'M2',
    { args: 1 },
    A.createDWordField(A.arg(0), 4, 'DW0'),
    A.createQWordField(A.arg(0), 8, 'QW0'),
    A.createField(A.arg(0), 128, 0x400, 'FLD0'),
    A.ret(A.sizeOf(A.arg(0))),
  );
  assert.equal(hex(m2), '14254d325f5f018a680a044457305f8f680a085157305f5b13680a800b0004464c4430a48768');
  assert.equal(hex(A.createByteField(A.arg(0), 0, 'B0')), '8c680042305f5f');
  assert.equal(hex(A.createWordField(A.arg(0), 2, 'W0')), '8b680a0257305f5f');
  // OperationRegion (NRAM, SystemMemory, 0xFED00000, 0x1000)
  // Field (NRAM, DWordAcc, NoLock, Preserve) { HDLE, 32, FUNC, 32, Offset (0x10), RLEN, 64, , 8, ODAT, 32512 }
  // OperationRegion (NPIO, SystemIO, 0x0A18, 4) Field (NPIO, ByteAcc, Lock, WriteAsZeros) { NTFI, 8 }
  const regions = A.concat(
    A.opRegion('NRAM', A.RegionSpace.SystemMemory, 0xfed00000, 0x1000),
    A.field(
      'NRAM',
      { access: A.FieldAccess.DWord },
      { name: 'HDLE', bits: 32 },
      { name: 'FUNC', bits: 32 },
      { offset: 0x10 },
      { name: 'RLEN', bits: 64 },
      { reserved: 8 },
      { name: 'ODAT', bits: 32512 },
    ),
    A.opRegion('NPIO', A.RegionSpace.SystemIO, 0x0a18, 4),
    A.field('NPIO', { access: A.FieldAccess.Byte, lock: true, update: A.FieldUpdate.WriteAsZeros }, { name: 'NTFI', bits: 8 }),
  );
  assert.equal(
    hex(regions),
    '5b804e52414d000c0000d0fe0b00105b81224e52414d0348444c452046554e4320004004524c454e400400084f44415480f0075b804e50494f010b180a0a045b810b4e50494f514e54464908',
  );
  assert.throws(() => A.field('R', { access: A.FieldAccess.Byte }, { name: 'A', bits: 16 }, { offset: 1 }), RangeError);
});

test('resource templates: COM1 _CRS and End Tag', () => {
  // Scope (\_SB) { Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, One)
  //   Method (_STA) { Return (0x0F) }
  //   Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08) IRQNoFlags () {4} }) } }
  const com1 = A.scope(
    '\\_SB',
    A.device(
      'COM1',
      A.name('_HID', A.eisaId('PNP0501')),
      A.name('_UID', 1),
      A.method('_STA', {}, A.ret(0x0f)),
      A.name('_CRS', A.resourceTemplate([A.ioPort({ min: 0x3f8, length: 8 }), A.irqNoFlags(4)])),
    ),
  );
  assert.equal(
    hex(com1),
    '103d5c5f53425f5b8235434f4d31085f4849440c41d00501085f5549440114095f53544100a40a0f085f43525311100a0d4701f803f80300082210007900',
  );
  // End Tag checksum: 0 like iasl by default; on request the template sums to 0.
  const withSum = A.resourceTemplate([A.irqNoFlags(4)], { checksum: true });
  const body = withSum.subarray(withSum.length - 5);
  assert.equal(hex(body.subarray(0, 4)), '22100079');
  assert.equal(body.reduce((s, b) => (s + b) & 0xff, 0), 0);
  assert.equal(hex(A.irqNoFlags(0, 15)), '220180');
  assert.throws(() => A.irqNoFlags(16), RangeError);
});

test('resource templates: Memory32Fixed', () => {
  // Name (R1, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xFEC00000, 0x1000)
  //   Memory32Fixed (ReadOnly, 0xFED00000, 0x400) })
  const r1 = A.name('R1', A.resourceTemplate([A.memory32Fixed(0xfec00000, 0x1000), A.memory32Fixed(0xfed00000, 0x400, false)]));
  assert.equal(hex(r1), '0852315f5f111d0a1a860900010000c0fe00100000860900000000d0fe000400007900');
});

test('resource templates: address space descriptors', () => {
  // Name (R2, ResourceTemplate () {
  //   WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
  //   WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0, 0xCF7, 0, 0xCF8)
  //   WordIO (ResourceConsumer, MinNotFixed, MaxNotFixed, SubDecode, ISAOnlyRanges, 0, 0x1000, 0xFFFF, 0, 0xF000)
  //   DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, 0xC0000000, 0xFEBFFFFF, 0, 0x3EC00000)
  //   DWordMemory (ResourceConsumer, PosDecode, MinNotFixed, MaxNotFixed, NonCacheable, ReadOnly, 0, 0x1000, 0x1FFF, 0, 0x1000)
  //   QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Prefetchable, ReadWrite, 0, 0x8000000000, 0xFFFFFFFFFF, 0, 0x8000000000)
  //   QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, WriteCombining, ReadWrite, 0, 0x100000000, 0x1FFFFFFFF, 0, 0x100000000) })
  const fixed = { producer: true, minFixed: true, maxFixed: true } as const;
  const r2 = A.name(
    'R2',
    A.resourceTemplate([
      A.wordBusNumber({ ...fixed, min: 0, max: 0xff, length: 0x100 }),
      A.wordIO({ ...fixed, min: 0, max: 0xcf7, length: 0xcf8 }),
      A.wordIO({ subtractive: true, range: 'isa', min: 0x1000, max: 0xffff, length: 0xf000 }),
      A.dwordMemory({ ...fixed, caching: 'cacheable', min: 0xc0000000, max: 0xfebfffff, length: 0x3ec00000 }),
      A.dwordMemory({ readWrite: false, min: 0x1000, max: 0x1fff, length: 0x1000 }),
      A.qwordMemory({ ...fixed, caching: 'prefetchable', min: 0x8000000000n, max: 0xffffffffffn, length: 0x8000000000n }),
      A.qwordMemory({ ...fixed, caching: 'writecombining', min: 0x100000000, max: 0x1ffffffff, length: 0x100000000 }),
    ]),
  );
  assert.equal(
    hex(r2),
    '0852325f5f11460c0ac2880d00020c0000000000ff0000000001880d00010c0300000000f70c0000f80c880d0001030200000010ffff000000f0' +
      '871700000c0300000000000000c0ffffbffe000000000000c03e8717000001000000000000100000ff1f00000000000000100000' +
      '8a2b00000c0700000000000000000000000080000000ffffffffff000000000000000000000000000000800000' +
      '008a2b00000c0500000000000000000000000001000000ffffffff01000000000000000000000000000000010000007900',
  );
});

test('resource templates: extended Interrupt', () => {
  // Name (R3, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {9}
  //   Interrupt (ResourceConsumer, Level, ActiveLow, Shared) {16, 17, 18}
  //   Interrupt (ResourceConsumer, Level, ActiveHigh, ExclusiveAndWake) {0x30} })
  const r3 = A.name(
    'R3',
    A.resourceTemplate([
      A.interrupt({ gsis: [9], edge: true }),
      A.interrupt({ gsis: [16, 17, 18], activeLow: true, shared: true }),
      A.interrupt({ gsis: [0x30], wake: true }),
    ]),
  );
  assert.equal(hex(r3), '0852335f5f11280a25890600030109000000890e000d031000000011000000120000008906001101300000007900');
  assert.throws(() => A.interrupt({ gsis: [] }), RangeError);
});
