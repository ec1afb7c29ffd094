import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIdentifier, parseBool, parseQemuOpts, parseUint } from '../../src/cli/qemuopts.js';

const props = (text: string, implied?: string) => Object.fromEntries(parseQemuOpts(text, implied).props);

test('QemuOpts grammar: pairs, implied key, escapes, flags, duplicates', () => {
  const cases: [string, string | undefined, Record<string, string>][] = [
    ['a=1,b=2', undefined, { a: '1', b: '2' }],
    ['512M,slots=2', 'size', { size: '512M', slots: '2' }],
    ['size=512M', 'size', { size: '512M' }],                      // implied key may be written
    ['pc,nvdimm', 'type', { type: 'pc', nvdimm: 'on' }],            // bare flag → on
    ['pc,nonvdimm', 'type', { type: 'pc', nvdimm: 'off' }],         // noflag → off
    ['x,notify', 'type', { type: 'x', tify: 'off' }],               // QEMU strips "no" textually
    ['mem-path=/a,,b,share=on', undefined, { 'mem-path': '/a,b', share: 'on' }],
    ['a,,b', 'driver', { driver: 'a,b' }],                          // ',,' in the implied value
    ['p=x,,,,y', undefined, { p: 'x,,y' }],
    ['a=1,a=2', undefined, { a: '2' }],                            // last wins
    ['1G,size=2G', 'size', { size: '2G' }],
    ['a=1,', undefined, { a: '1' }],                               // trailing comma ignored
    ['', 'size', {}],
    ['a=', undefined, { a: '' }],
    ['1G,=2', 'size', { size: '1G', '': '2' }],
    ['x=a=b', undefined, { x: 'a=b' }],
  ];
  for (const [text, implied, want] of cases) assert.deepEqual(props(text, implied), want, text);
});

test('QemuOpts id: excluded from props, first id wins, found even after an escape', () => {
  assert.equal(parseQemuOpts('m,id=a,id=b,size=1', 'qom-type').id, 'a');
  assert.deepEqual(props('m,id=a,size=1', 'qom-type'), { 'qom-type': 'm', size: '1' });
  assert.equal(parseQemuOpts('size=1', 'qom-type').id, undefined);
  // QEMU scans for id without the implied key, so it sees id=m0 here.
  const o = parseQemuOpts('memory-backend-ram,,id=m0', 'qom-type');
  assert.equal(o.id, 'm0');
  assert.equal(o.props.get('qom-type'), 'memory-backend-ram,id=m0');
});

test('QemuOpts remembers short-form flags as typed', () => {
  const o = parseQemuOpts('x,noshare,pmem,prealloc=on', 'qom-type');
  assert.deepEqual(Object.fromEntries(o.flags), { share: 'noshare', pmem: 'pmem' });
});

test('booleans: QEMU spellings, case-sensitive', () => {
  for (const v of ['on', 'yes', 'true', 'y']) assert.equal(parseBool(v), true, v);
  for (const v of ['off', 'no', 'false', 'n']) assert.equal(parseBool(v), false, v);
  for (const v of ['ON', 'True', '1', '0', '', 'maybe']) assert.equal(parseBool(v), undefined, v);
});

test('numbers: decimal, hex, octal (QEMU strtoull base 0), no negatives', () => {
  const cases: [string, bigint | undefined][] = [
    ['0', 0n], ['16', 16n], ['0x10', 16n], ['0X1f', 31n], ['010', 8n],
    ['-1', undefined], ['08', undefined], ['1k', undefined], ['', undefined], [' 1', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseUint(text), want, text);
});

test('identifiers', () => {
  for (const id of ['a', 'mem0', 'a.b-c_d', 'Z9']) assert.ok(isIdentifier(id), id);
  for (const id of ['', '0a', '-a', 'a b', 'a,b', '_a']) assert.ok(!isIdentifier(id), id);
});
