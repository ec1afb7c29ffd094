import { test } from 'node:test';
import assert from 'node:assert/strict';

import { IoBus, type AccessSize, type BusDevice } from '../../src/devices/bus.js';

/** Records accesses; reads return offset-derived bytes. */
class Probe implements BusDevice {
  log: string[] = [];
  constructor(readonly width?: AccessSize) {}
  read(offset: number, size: AccessSize): number {
    this.log.push(`r${size}@${offset}`);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + ((0x10 + offset + i) & 0xff);
    return v;
  }
  write(offset: number, size: AccessSize, value: number): void {
    this.log.push(`w${size}@${offset}=${value.toString(16)}`);
  }
}

test('bus: dispatch with offsets relative to the range base', () => {
  const bus = new IoBus('pio');
  const a = new Probe();
  const b = new Probe();
  bus.register(0x3f8, 8, a, 'a');
  bus.register(0x60, 1, b, 'b');
  assert.equal(bus.read(0x3fa, 1), 0x12);
  bus.write(0x3ff, 1, 0xab);
  bus.write(0x60, 2, 0x1234);
  assert.deepEqual(a.log, ['r1@2', 'w1@7=ab']);
  assert.deepEqual(b.log, ['w2@0=1234']);
  assert.equal(bus.find(0x3f7), undefined);
  assert.equal(bus.find(0x400), undefined);
  assert.equal(bus.find(0x3f8)?.name, 'a');
});

test('bus: overlapping registration throws, adjacent is fine', () => {
  const bus = new IoBus();
  bus.register(0x100, 0x10, new Probe(), 'x');
  assert.throws(() => bus.register(0x10f, 1, new Probe(), 'y'), /overlaps x/);
  assert.throws(() => bus.register(0xf0, 0x11, new Probe(), 'y'), /overlaps x/);
  assert.throws(() => bus.register(0x104, 2, new Probe(), 'y'), /overlaps x/);
  assert.throws(() => bus.register(0x0, 0x1000, new Probe(), 'y'), /overlaps x/);
  bus.register(0x110, 1, new Probe(), 'after');
  bus.register(0xf0, 0x10, new Probe(), 'before');
  assert.deepEqual(bus.mappings().map((m) => m.name), ['before', 'x', 'after']);
  assert.throws(() => bus.register(0x200, 0, new Probe()), RangeError);
  assert.equal(bus.unregister(0x100), true);
  bus.register(0x104, 2, new Probe(), 'y');
});

test('bus: unmapped reads are all-ones, writes ignored and counted', () => {
  const bus = new IoBus();
  const seen: string[] = [];
  bus.onUnmapped = (kind, addr, size) => seen.push(`${kind}${size}@${addr.toString(16)}`);
  assert.equal(bus.read(0x80, 1), 0xff);
  assert.equal(bus.read(0x80, 2), 0xffff);
  assert.equal(bus.read(0x80, 4), 0xffffffff);
  assert.equal(bus.read64(0xfee00000), 0xffff_ffff_ffff_ffffn);
  bus.write(0x80, 1, 0);
  assert.equal(bus.unmappedReads, 4);
  assert.equal(bus.unmappedWrites, 1);
  assert.deepEqual(seen, ['read1@80', 'read2@80', 'read4@80', 'read8@fee00000', 'write1@80']);
});

test('bus: byte-wide devices get wide accesses split little-endian', () => {
  const bus = new IoBus();
  const p = new Probe(1);
  bus.register(0x3f8, 8, p);
  assert.equal(bus.read(0x3f8, 2), 0x1110);
  bus.write(0x3fe, 4, 0xddccbbaa); // last two bytes fall off the end: unmapped
  assert.deepEqual(p.log, ['r1@0', 'r1@1', 'w1@6=aa', 'w1@7=bb']);
  assert.equal(bus.unmappedWrites, 2);
  assert.equal(bus.read(0x3ff, 2), 0xff17); // high byte unmapped
});

test('bus: 64-bit accesses use read64/write64 or split into 32-bit halves', () => {
  const bus = new IoBus('mmio');
  const halves = new Probe();
  bus.register(0xd000_0000, 0x1000, halves);
  assert.equal(bus.read64(0xd000_0000), 0x17161514_13121110n);
  bus.write64(0xd000_0008, 0x1122334455667788n);
  assert.deepEqual(halves.log, ['r4@0', 'r4@4', 'w4@8=55667788', 'w4@12=11223344']);

  let stored = 0n;
  bus.register(0xe000_0000, 8, {
    read: () => 0,
    write: () => {},
    read64: () => stored,
    write64: (_o, v) => {
      stored = v;
    },
  });
  bus.write64(0xe000_0000, -1n);
  assert.equal(stored, 0xffff_ffff_ffff_ffffn);
  assert.equal(bus.read64(0xe000_0000), 0xffff_ffff_ffff_ffffn);
});

test('bus: readInto/writeFrom move KVM exit data little-endian', () => {
  const bus = new IoBus();
  const p = new Probe();
  bus.register(0x1000, 0x100, p);
  const four = new Uint8Array(4);
  bus.readInto(0x1000, four);
  assert.deepEqual([...four], [0x10, 0x11, 0x12, 0x13]);
  bus.writeFrom(0x1010, Uint8Array.of(0x01, 0x02));
  const eight = new Uint8Array(8);
  bus.readInto(0x1000, eight);
  assert.deepEqual([...eight], [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]);
  bus.writeFrom(0x1020, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 0x88));
  bus.writeFrom(0x1030, Uint8Array.of(9, 8, 7)); // odd length: bytewise
  assert.deepEqual(p.log.slice(1), [
    'w2@16=201',
    'r4@0',
    'r4@4',
    'w4@32=4030201',
    'w4@36=88070605',
    'w1@48=9',
    'w1@49=8',
    'w1@50=7',
  ]);
  const miss = new Uint8Array(2);
  bus.readInto(0x9000, miss);
  assert.deepEqual([...miss], [0xff, 0xff]);
});

test('bus: lookups by an exit\'s address halves find what find() finds, on both sides of 2 GiB and 4 GiB, and reach the same device at the same offset', () => {
  const bus = new IoBus('mmio');
  const ranges: [number, number][] = [[0x1000, 0x100], [0x7fff_ff00, 0x200], [0xfe00_0000, 0x8000], [0xffff_f000, 0x2000], [0x8_0000_0000, 0x4000], [0x7fff_ffff_0000, 0x1000]];
  const probes = ranges.map(([base, len]) => { const p = new Probe(); bus.register(base, len, p, `at ${base.toString(16)}`); return p; });
  const h = new Int32Array(2);
  const addrs = ranges.flatMap(([base, len]) => [base - 1, base, base + 1, base + len - 4, base + len - 1, base + len]);
  for (const addr of addrs) {
    h[0] = addr % 2 ** 32 | 0; h[1] = Math.floor(addr / 2 ** 32); // as getInt32 reads kvm_run
    assert.equal(bus.findHalves(h[0]!, h[1]!)?.name, bus.find(addr)?.name, `0x${addr.toString(16)}`);
  }
  // Whole accesses by halves and by number land alike, including one in a range that crosses 4 GiB.
  const four = new Uint8Array(4), byNumber = new Uint8Array(4);
  for (const addr of [0xfe00_3000, 0x7fff_ff00 + 0x104, 0xffff_f000 + 0x800, 0x8_0000_0010, 0x1_0000_0400]) {
    h[0] = addr % 2 ** 32 | 0; h[1] = Math.floor(addr / 2 ** 32);
    bus.writeFromHalves(h[0]!, h[1]!, Uint8Array.of(1, 2, 3, 0x84));
    bus.writeFrom(addr, Uint8Array.of(1, 2, 3, 0x84));
    bus.readIntoHalves(h[0]!, h[1]!, four);
    bus.readInto(addr, byNumber);
    assert.deepEqual([...four], [...byNumber], `read at 0x${addr.toString(16)}`);
  }
  const logs = probes.map((p) => p.log);
  for (const log of logs) for (let i = 0; i < log.length; i += 4) assert.deepEqual([log[i], log[i + 2]], [log[i + 1], log[i + 3]], 'the same access both ways');
  assert.deepEqual(logs[2], ['w4@12288=84030201', 'w4@12288=84030201', 'r4@12288', 'r4@12288']);
  assert.deepEqual(logs[3], ['w4@2048=84030201', 'w4@2048=84030201', 'r4@2048', 'r4@2048', 'w4@5120=84030201', 'w4@5120=84030201', 'r4@5120', 'r4@5120'], 'the range crossing 4 GiB, below and above it');
  // Unmapped, and split by a narrow device: as by number.
  h[0] = 0x9000; h[1] = 0;
  bus.readIntoHalves(h[0]!, h[1]!, four);
  assert.deepEqual([...four], [0xff, 0xff, 0xff, 0xff]);
  const narrow = new Probe(1);
  bus.register(0xfed0_0000, 0x10, narrow, 'narrow');
  bus.writeFromHalves(0xfed0_0000 | 0, 0, Uint8Array.of(0xaa, 0xbb));
  assert.deepEqual(narrow.log, ['w1@0=aa', 'w1@1=bb']);
});
