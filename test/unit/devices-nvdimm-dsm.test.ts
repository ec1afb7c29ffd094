// The NVDIMM _DSM doorbell handler against a fake guest page: the label
// functions, and hostile requests that must get a status code, not a crash
// or a byte outside the label area.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NvdimmDsm, type LabelArea } from '../../src/devices/nvdimm-dsm.js';
import { DSM_PAGE, DSM_PAGE_SIZE, DSM_STATUS, LABEL_MAX_TRANSFER } from '../../src/acpi/nvdimm-dsm-abi.js';

const LABEL = 128 * 1024;

function setup(opts: { writable?: boolean } = {}) {
  const page = new Uint8Array(DSM_PAGE_SIZE);
  // The label area sits inside a larger buffer so that out-of-area writes would show.
  const backing = new Uint8Array(LABEL + 2 * 4096).fill(0xee);
  const area = backing.subarray(4096, 4096 + LABEL);
  area.fill(0);
  const labels: LabelArea = {
    size: LABEL,
    writable: opts.writable ?? true,
    read: (o, n) => area.slice(o, o + n),
    write: (o, d) => { area.set(d, o); },
  };
  const rejects: string[] = [];
  const dsm = new NvdimmDsm({
    memory: {
      read: (gpa, len) => { assert.equal(gpa, DSM_PAGE); return page.slice(0, len); },
      write: (gpa, data) => { assert.equal(gpa, DSM_PAGE); page.set(data); },
    },
    dimms: new Map([[1, labels], [2, null]]),
    onReject: (why) => rejects.push(why),
  });
  const call = (handle: number, fn: number, arg: Uint8Array = new Uint8Array(0), revision = 1) => {
    page.fill(0xcc);
    const v = new DataView(page.buffer);
    v.setUint32(0, handle, true);
    v.setUint32(4, revision, true);
    v.setUint32(8, fn, true);
    page.set(arg.subarray(0, DSM_PAGE_SIZE - 12), 12);
    dsm.write(0, 4, DSM_PAGE);
    const len = v.getUint32(0, true);
    assert.ok(len >= 8 && len <= DSM_PAGE_SIZE, `answer length ${len}`);
    const payload = page.slice(4, len);
    return { status: new DataView(payload.buffer).getUint32(0, true), data: payload.subarray(4), len };
  };
  const offLen = (offset: number, len: number, data: Uint8Array = new Uint8Array(0)) => {
    const a = new Uint8Array(8 + data.length);
    const v = new DataView(a.buffer);
    v.setUint32(0, offset, true);
    v.setUint32(4, len, true);
    a.set(data, 8);
    return a;
  };
  const outside = () => backing.subarray(0, 4096).every((b) => b === 0xee) && backing.subarray(4096 + LABEL).every((b) => b === 0xee);
  return { page, area, call, offLen, rejects, outside, dsm };
}

test('_DSM function 0: the root has no functions; a DIMM with labels has 0, 4, 5, 6; without, none', () => {
  const { call } = setup();
  assert.equal(call(0, 0).status, 0);           // payload is the mask itself
  assert.equal(call(1, 0).status, 0b1110001);
  assert.equal(call(2, 0).status, 0);
  assert.equal(setup({ writable: false }).call(1, 0).status, 0b0110001);
});

test('label size, then a write and a read back through functions 6 and 5', () => {
  const { call, offLen, area, outside } = setup();
  const size = call(1, 4);
  assert.equal(size.status, DSM_STATUS.SUCCESS);
  const v = new DataView(size.data.buffer, size.data.byteOffset);
  assert.equal(v.getUint32(0, true), LABEL);
  assert.equal(v.getUint32(4, true), LABEL_MAX_TRANSFER);

  const data = Uint8Array.from({ length: LABEL_MAX_TRANSFER }, (_, i) => (i * 7) & 0xff);
  assert.equal(call(1, 6, offLen(LABEL - data.length, data.length, data)).status, DSM_STATUS.SUCCESS);
  assert.deepEqual(area.subarray(LABEL - data.length), data);
  const back = call(1, 5, offLen(LABEL - data.length, data.length));
  assert.equal(back.status, DSM_STATUS.SUCCESS);
  assert.deepEqual(back.data, data);
  assert.ok(outside());
});

test('hostile requests get a status code and touch nothing outside the label area', () => {
  const { call, offLen, rejects, outside, area, dsm, page } = setup();
  const big = new Uint8Array(4000).fill(0x41);
  const cases: [string, number, number, Uint8Array, number][] = [
    ['read past the end', 5, 0, offLen(LABEL - 4, 8), DSM_STATUS.INVALID_INPUT],
    ['read at offset = size + 1', 5, 0, offLen(LABEL + 1, 0), DSM_STATUS.INVALID_INPUT],
    ['read with a 32-bit wrapping range', 5, 0, offLen(0xffffff00, 0x200), DSM_STATUS.INVALID_INPUT],
    ['read over the transfer limit', 5, 0, offLen(0, LABEL_MAX_TRANSFER + 1), DSM_STATUS.INVALID_INPUT],
    ['write past the end', 6, 0, offLen(LABEL - 16, 4000, big), DSM_STATUS.INVALID_INPUT],
    ['write claiming more bytes than the page holds', 6, 0, offLen(0, 0xffffffff), DSM_STATUS.INVALID_INPUT],
    ['unknown handle', 5, 0x99, offLen(0, 8), DSM_STATUS.NO_SUCH_DEVICE],
    ['unknown function', 42, 0, offLen(0, 8), DSM_STATUS.NOT_SUPPORTED],
    ['label function on a DIMM without labels', 5, 2, offLen(0, 8), DSM_STATUS.NOT_SUPPORTED],
  ];
  for (const [what, fn, handle, arg, status] of cases) {
    assert.equal(call(handle || 1, fn, arg).status, status, what);
  }
  assert.equal(call(1, 5, offLen(0, 8), 2).status, DSM_STATUS.NOT_SUPPORTED, 'revision 2');
  assert.ok(rejects.length >= 7);
  assert.ok(area.every((b) => b === 0), 'a refused write changed the label area');
  assert.ok(outside());

  // Doorbell writes other than "the page address, 32 bits" are ignored: the page stays as it was.
  page.fill(0x11);
  dsm.write(0, 4, 0x1234);
  dsm.write(0, 2, DSM_PAGE & 0xffff);
  dsm.write(1, 1, 0xfe);
  assert.ok(page.every((b) => b === 0x11));
});

test('a read-only NVDIMM refuses label writes', () => {
  const { call, offLen, area } = setup({ writable: false });
  assert.equal(call(1, 6, offLen(0, 4, Uint8Array.of(1, 2, 3, 4))).status, DSM_STATUS.NOT_SUPPORTED);
  assert.ok(area.every((b) => b === 0));
});
