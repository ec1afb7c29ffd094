// The namespace label decoder, pinned against a label area that Linux 6.1's
// nvdimm driver wrote in a pmemvm guest (ndctl init-labels, then three
// create-namespace: fsdax 256M, devdax 256M, sector 128M).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeLabelArea, fletcher64, indexBlockSize } from '../../src/devices/nvdimm-labels.js';

const area = () => new Uint8Array(readFileSync(new URL('../../../test/fixtures/linux-6.1-label-area-128k.bin', import.meta.url)));

test('Fletcher-64: little-endian 32-bit words, sums mod 2^32', () => {
  assert.equal(fletcher64(new Uint8Array(8)), 0n);
  // words 1, 2: lo = 1 then 3; hi = 1 then 4
  assert.equal(fletcher64(Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0)), (4n << 32n) | 3n);
  const ff = new Uint8Array(12).fill(0xff); // lo wraps: ffffffff, fffffffe, fffffffd
  assert.equal(fletcher64(ff), (((0xffffffffn + 0xfffffffen + 0xfffffffdn) & 0xffffffffn) << 32n) | 0xfffffffdn);
});

test('index block size as Linux computes it for 128K areas', () => {
  assert.equal(indexBlockSize(128 * 1024, 128), 256); // 1020 slots: 72 + 128 bytes of bitmap
  assert.equal(indexBlockSize(128 * 1024, 256), 256);
});

test('a label area written by Linux: both indexes valid, the newer current, three valid labels', () => {
  const info = decodeLabelArea(area());
  assert.equal(info.state, 'labels');
  assert.deepEqual(info.indexes.map((i) => [i.offset, i.seq, i.valid, i.major, i.minor, i.labelSize, i.nslot]),
    [[0, 3, true, 1, 1, 128, 1020], [256, 2, true, 1, 1, 128, 1020]]);
  assert.equal(info.current?.offset, 0);
  assert.deepEqual(info.current?.used, [1, 2, 3]);
  assert.deepEqual(info.labels.map((l) => [l.slot, l.valid, Number(l.dpa) >> 20, Number(l.rawSize) >> 20, l.nlabel, l.position]),
    [[1, true, 0, 256, 1, 0], [2, true, 256, 256, 1, 0], [3, true, 512, 128, 1, 0]]);
  assert.match(info.labels[0]!.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

test('corruption: a flipped byte invalidates that index and the other takes over; zeros and foreign data are told apart', () => {
  const a = area();
  a[100] ^= 0x40; // inside index 0's free bitmap
  const info = decodeLabelArea(a);
  assert.equal(info.indexes[0]!.valid, false);
  assert.match(info.indexes[0]!.problems.join(), /checksum/);
  assert.equal(info.current?.offset, 256);
  assert.equal(info.state, 'labels');

  assert.equal(decodeLabelArea(new Uint8Array(128 * 1024)).state, 'empty');
  const data = new Uint8Array(128 * 1024);
  data.set(new TextEncoder().encode('ext4 superblock? no: just some file system data'), 5000);
  const d = decodeLabelArea(data);
  assert.equal(d.state, 'unknown-data');
  assert.equal(d.nonZeroBytes, 47);
  const both = area();
  both.fill(0x55, 0, 512); // both index blocks gone
  assert.equal(decodeLabelArea(both).state, 'unknown-data');
});
