import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSize, parseSize, sizeToNumber, tryParseSize } from '../../src/cli/size.js';
import { UserError } from '../../src/errors.js';

const K = 1024n;

test('sizes: every suffix, any case, powers of 1024', () => {
  const cases: [string, bigint][] = [
    ['0', 0n], ['4096', 4096n], ['7B', 7n], ['7b', 7n],
    ['1K', K], ['1k', K], ['2M', 2n * K ** 2n], ['2m', 2n * K ** 2n],
    ['3G', 3n * K ** 3n], ['3g', 3n * K ** 3n], ['1T', K ** 4n], ['1t', K ** 4n],
    ['1P', K ** 5n], ['1p', K ** 5n], ['1E', K ** 6n], ['15e', 15n * K ** 6n],
    ['0x1000', 4096n], ['0XfF', 255n],
  ];
  for (const [text, want] of cases) assert.deepEqual(tryParseSize(text), { ok: true, value: want }, text);
});

test('sizes: decimal fractions, rounded half up; need a suffix', () => {
  const cases: [string, bigint][] = [
    ['1.5G', 3n * K ** 3n / 2n], ['0.5K', 512n], ['1.K', K], ['1.0', 1n], ['2.', 2n],
    ['0.0001K', 0n], ['0.0005K', 1n], ['1.5E', 3n * K ** 6n / 2n], ['1.25m', 1310720n],
  ];
  for (const [text, want] of cases) assert.deepEqual(tryParseSize(text), { ok: true, value: want }, text);
});

test('sizes: garbage and overflow', () => {
  for (const text of ['', 'G', '12X', '-1', '+1', '1.5', '1.5B', '1e3', '1.5e3G', '.5G', ' 1', '1 G', '1GB', '0x1G', '0x1.5', '1,5G', 'x'])
    assert.deepEqual(tryParseSize(text), { ok: false, reason: 'invalid' }, text);
  for (const text of ['16E', '16384P', '18446744073709551616', '0x10000000000000000'])
    assert.deepEqual(tryParseSize(text), { ok: false, reason: 'overflow' }, text);
  assert.deepEqual(tryParseSize('18446744073709551615'), { ok: true, value: (1n << 64n) - 1n });
  assert.deepEqual(tryParseSize('15.99999999999999999999E'), { ok: false, reason: 'overflow' }); // rounds up to 16E
});

test('sizes: default suffix (bare number)', () => {
  assert.deepEqual(tryParseSize('512', 'M'), { ok: true, value: 512n * K * K });
  assert.deepEqual(tryParseSize('1.5', 'M'), { ok: true, value: 1536n * K });
  assert.deepEqual(tryParseSize('2G', 'M'), { ok: true, value: 2n * K ** 3n });
});

test('parseSize messages', () => {
  const cases: [string, string][] = [
    ['12X', '-x 12X: invalid size (use a number with an optional K, M, G or T suffix, e.g. 512M)'],
    ['16E', '-x 16E: size too large (the limit is 16E minus one byte)'],
    ['1.5', '-x 1.5: invalid size (a fraction needs a K, M, G or T suffix, e.g. 1.5G)'],
    ['0x1G', '-x 0x1G: invalid size (a hex size takes no fraction or suffix; write it in bytes, e.g. 0x40000000, or in decimal, e.g. 1G)'],
  ];
  for (const [text, want] of cases) {
    assert.throws(() => parseSize(text, `-x ${text}`), (e: unknown) => e instanceof UserError && e.message === want, text);
  }
});

test('sizeToNumber and formatSize', () => {
  assert.equal(sizeToNumber(1n << 40n, 'x'), 2 ** 40);
  assert.equal(sizeToNumber(BigInt(Number.MAX_SAFE_INTEGER), 'x'), Number.MAX_SAFE_INTEGER);
  assert.throws(() => sizeToNumber(1n << 60n, '-m'), { name: 'UserError', message: '-m: size 1E is too large (pmemvm handles sizes below 8P)' });
  const cases: [bigint, string][] = [[0n, '0B'], [4097n, '4097B'], [K, '1K'], [1536n * K * K, '1536M'], [K ** 3n, '1G'], [K ** 6n, '1E']];
  for (const [v, want] of cases) assert.equal(formatSize(v), want);
});
