// "Read FIT" through the _DSM page (handle 0x10000, function 1), as the root
// device's _FIT uses it: the FIT in chunks, FIT_CHANGED after a change until
// the guest starts again from offset 0, and bad offsets answered with a status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NvdimmDsm, type LabelArea } from '../../src/devices/nvdimm-dsm.js';
import {
  DSM_PAGE, DSM_PAGE_SIZE, DSM_STATUS, FIT_FN, FIT_HANDLE, FIT_MAX_TRANSFER,
} from '../../src/acpi/nvdimm-dsm-abi.js';
import { buildNfit, nfitStructures, type NfitDimm } from '../../src/acpi/nfit.js';

const GiB = 2 ** 30;
const dimmsOf = (n: number): NfitDimm[] =>
  Array.from({ length: n }, (_, slot) => ({ slot, base: 4 * GiB + slot * GiB, size: GiB, unarmed: false }));

function setup(fit: () => Uint8Array) {
  const page = new Uint8Array(DSM_PAGE_SIZE);
  const rejects: string[] = [];
  const dsm = new NvdimmDsm({
    memory: {
      read: (gpa, len) => { assert.equal(gpa, DSM_PAGE); return page.slice(0, len); },
      write: (gpa, data) => { assert.equal(gpa, DSM_PAGE); assert.ok(data.length <= DSM_PAGE_SIZE); page.set(data); },
    },
    dimms: new Map(),
    fit,
    onReject: (why) => rejects.push(why),
  });
  /** One request; the answer's status and data (what NCAL hands back after the length). */
  const call = (handle: number, fn: number, arg: Uint8Array = new Uint8Array(0), revision = 1) => {
    page.fill(0xcc);
    const v = new DataView(page.buffer);
    v.setUint32(0, handle, true);
    v.setUint32(4, revision, true);
    v.setUint32(8, fn, true);
    page.set(arg, 12);
    dsm.write(0, 4, DSM_PAGE);
    const len = v.getUint32(0, true);
    assert.ok(len >= 8 && len <= DSM_PAGE_SIZE, `answer length ${len}`);
    return { status: v.getUint32(4, true), data: page.slice(8, len) };
  };
  const u32 = (n: number) => { const a = new Uint8Array(4); new DataView(a.buffer).setUint32(0, n, true); return a; };
  const readFit = (offset: number) => call(FIT_HANDLE, FIT_FN.READ_FIT, u32(offset));
  /** What the AML _FIT does: chunks from 0 up, again from 0 on FIT_CHANGED, until an empty chunk. `between` runs after each chunk. */
  const guestFit = (between: (chunk: number) => void = () => {}) => {
    let fit = new Uint8Array(0);
    let chunks = 0;
    for (let guard = 0; guard < 100; guard++) {
      const r = readFit(fit.length);
      between(chunks++);
      if (r.status === DSM_STATUS.FIT_CHANGED) { fit = new Uint8Array(0); continue; }
      if (r.status !== DSM_STATUS.SUCCESS || r.data.length === 0) return { fit, chunks };
      const next = new Uint8Array(fit.length + r.data.length);
      next.set(fit);
      next.set(r.data, fit.length);
      fit = next;
    }
    throw new Error('_FIT never ended');
  };
  return { dsm, call, readFit, guestFit, rejects };
}

test('the FIT is the NFIT less its 40-byte header; a 40-DIMM FIT comes in two chunks of at most 4088 bytes', () => {
  const opts = { dimms: dimmsOf(40), persistence: 'cpu' as const };
  const fit = nfitStructures(opts);
  assert.deepEqual(fit, buildNfit(opts).subarray(40));
  assert.ok(fit.length > FIT_MAX_TRANSFER && fit.length <= 2 * FIT_MAX_TRANSFER, `${fit.length} bytes`);
  const { readFit, guestFit } = setup(() => fit);
  const first = readFit(0);
  assert.equal(first.status, DSM_STATUS.SUCCESS);
  assert.equal(first.data.length, FIT_MAX_TRANSFER);
  assert.deepEqual(readFit(FIT_MAX_TRANSFER).data, fit.subarray(FIT_MAX_TRANSFER));
  const end = readFit(fit.length);
  assert.deepEqual([end.status, end.data.length], [DSM_STATUS.SUCCESS, 0], 'at the end: success and no bytes');
  const got = guestFit();
  assert.deepEqual(got.fit, fit);
  assert.equal(got.chunks, 3);
});

test('handle 0x10000: function 0 lists function 1 (read FIT); other functions and revisions are not supported', () => {
  const { call } = setup(() => new Uint8Array(16));
  assert.equal(call(FIT_HANDLE, FIT_FN.QUERY).status, 0b11); // the payload is the mask itself
  assert.equal(call(FIT_HANDLE, 2).status, DSM_STATUS.NOT_SUPPORTED);
  assert.equal(call(FIT_HANDLE, FIT_FN.READ_FIT, new Uint8Array(4), 2).status, DSM_STATUS.NOT_SUPPORTED);
  assert.equal(call(0, FIT_FN.READ_FIT, new Uint8Array(4)).status, DSM_STATUS.NOT_SUPPORTED, 'the root handle 0 has no read FIT');
});

test('a FIT change between chunks: 0x100 until the guest reads from 0 again, then the new FIT', () => {
  let fit = nfitStructures({ dimms: dimmsOf(30) });
  const { dsm, readFit, guestFit } = setup(() => fit);
  assert.equal(readFit(0).status, DSM_STATUS.SUCCESS);
  // A DIMM is hot-added: the machine swaps the FIT and says so.
  fit = nfitStructures({ dimms: dimmsOf(31) });
  dsm.fitChanged();
  assert.equal(readFit(FIT_MAX_TRANSFER).status, DSM_STATUS.FIT_CHANGED);
  assert.equal(readFit(FIT_MAX_TRANSFER).data.length, 0, 'FIT_CHANGED carries no bytes');
  assert.equal(readFit(FIT_MAX_TRANSFER).status, DSM_STATUS.FIT_CHANGED, 'still, until a read from 0');
  assert.equal(readFit(0).status, DSM_STATUS.SUCCESS);
  assert.equal(readFit(FIT_MAX_TRANSFER).status, DSM_STATUS.SUCCESS);
  assert.match(dsm.describe(), /3 FIT-changed answers/);

  // The _FIT loop with a change after its first chunk ends with the whole new FIT.
  const old = fit;
  const got = guestFit((chunk) => {
    if (chunk === 0) { fit = nfitStructures({ dimms: dimmsOf(32) }); dsm.fitChanged(); }
  });
  assert.notDeepEqual(got.fit, old);
  assert.deepEqual(got.fit, fit);
  assert.equal(got.chunks, 2 + 3, 'one chunk, one FIT_CHANGED, then the three of the new FIT');
});

test('offsets past the end get "invalid input" and no bytes (even while the FIT is changed); at the end, success and none', () => {
  const fit = nfitStructures({ dimms: dimmsOf(2) });
  const { dsm, readFit, rejects } = setup(() => fit);
  for (const offset of [fit.length + 1, FIT_MAX_TRANSFER * 2, 0x7fffffff, 0xffffffff]) {
    const r = readFit(offset);
    assert.deepEqual([r.status, r.data.length], [DSM_STATUS.INVALID_INPUT, 0], `offset ${offset}`);
  }
  assert.equal(rejects.length, 4);
  dsm.fitChanged();
  assert.equal(readFit(fit.length + 4).status, DSM_STATUS.INVALID_INPUT, 'QEMU checks the offset before the change');
  assert.equal(readFit(fit.length).status, DSM_STATUS.FIT_CHANGED);
  assert.deepEqual(readFit(0).data, fit);
  const end = readFit(fit.length);
  assert.deepEqual([end.status, end.data.length], [DSM_STATUS.SUCCESS, 0]);
  // A chunk near the end is clipped to the FIT.
  assert.deepEqual(readFit(fit.length - 3).data, fit.subarray(fit.length - 3));
});

test('with no FIT provider (no NVDIMMs) the FIT is empty', () => {
  const page = new Uint8Array(DSM_PAGE_SIZE);
  const dsm = new NvdimmDsm({ memory: { read: () => page.slice(), write: (_g, d) => page.set(d) }, dimms: new Map() });
  const v = new DataView(page.buffer);
  const read = (offset: number) => {
    v.setUint32(0, FIT_HANDLE, true); v.setUint32(4, 1, true); v.setUint32(8, FIT_FN.READ_FIT, true); v.setUint32(12, offset, true);
    dsm.write(0, 4, DSM_PAGE);
    return [v.getUint32(0, true), v.getUint32(4, true)];
  };
  assert.deepEqual(read(0), [8, DSM_STATUS.SUCCESS]);
  assert.deepEqual(read(1), [8, DSM_STATUS.INVALID_INPUT]);
});

test('the guest cannot change the FIT pmemvm holds through the answer it gets', () => {
  const fit = nfitStructures({ dimms: dimmsOf(1) });
  const copy = fit.slice();
  const { readFit } = setup(() => fit);
  readFit(0).data.fill(0xff);
  assert.deepEqual(fit, copy);
});

test('addDimm: a hot-added NVDIMM answers the label functions; its handle must be a free DIMM handle', () => {
  const area = new Uint8Array(256 * 1024);
  const labels: LabelArea = {
    size: area.length, writable: true,
    read: (o, n) => area.slice(o, o + n), write: (o, d) => { area.set(d, o); },
  };
  const { dsm, call } = setup(() => new Uint8Array(0));
  assert.equal(call(3, 4).status, DSM_STATUS.NO_SUCH_DEVICE, 'before the plug');
  dsm.addDimm(3, labels);
  assert.equal(call(3, 0).status, 0b1110001);
  const size = call(3, 4);
  assert.equal(size.status, DSM_STATUS.SUCCESS);
  assert.equal(new DataView(size.data.buffer).getUint32(0, true), area.length);
  assert.throws(() => dsm.addDimm(3, null), /taken/);
  for (const bad of [0, FIT_HANDLE, -1, 1.5]) assert.throws(() => dsm.addDimm(bad, null), RangeError, `handle ${bad}`);
  assert.match(dsm.describe(), /^1 DIMMs, /);
});
