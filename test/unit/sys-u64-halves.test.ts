// 64-bit addresses as signed 32-bit halves (src/sys/u64-halves.ts): the sums the flush path
// makes without heap numbers give the same bits as exact arithmetic, at every carry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addToHalves, biased, fromHalves, toHalves } from '../../src/sys/u64-halves.js';

const exact = (h: Int32Array, at = 0) => fromHalves(h[at]! >>> 0, h[at + 1]! >>> 0);

test('halves: toHalves and addToHalves give the exact sum, across the low half\'s sign bit and its carry', () => {
  const bases = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_f000, 0xffff_ffff, 0x1_0000_0000, 0x7f12_ffff_fff8, 0x7fff_8000_0000, 2 ** 47 - 1];
  const offs = [0, 1, 7, 0x1000, 0x7fff_ffff, 0x4000_0000, 0x8000_1];
  const h = new Int32Array(2), sum = new Int32Array(4);
  for (const base of bases) {
    toHalves(base, h, 0);
    assert.equal(exact(h), base, `toHalves(0x${base.toString(16)})`);
    for (const off of offs) {
      addToHalves(h[0]!, h[1]!, off, sum, 2);
      assert.equal(exact(sum, 2), base + off, `0x${base.toString(16)} + 0x${off.toString(16)}`);
    }
  }
});

test('halves: biased low halves compare in unsigned order', () => {
  const lows = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xfee0_0000, 0xffff_ffff];
  for (let i = 0; i + 1 < lows.length; i++) assert.ok(biased(lows[i]! | 0) < biased(lows[i + 1]! | 0), `0x${lows[i]!.toString(16)} < 0x${lows[i + 1]!.toString(16)}`);
});
