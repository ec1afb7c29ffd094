// The one-pass path for plain QMP objects (json-fast.ts) must give what the QEMU-exact
// lexer and parser give, byte stream for byte stream. Fed one byte at a time, JsonStream
// never completes an object in one chunk, so only the exact path runs: that is the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonStream, type JsonLimits, type JsonResult } from '../../src/monitor/json-stream.js';
import { parseFastObject } from '../../src/monitor/json-fast.js';
import { QFloat, type QObject, qdictOrder } from '../../src/monitor/qobject.js';

/** Results as text that tells QFloat from integers and keeps key order. */
function show(r: JsonResult): string {
  if ('error' in r) return `E:${r.error}`;
  const s = (v: QObject): string => {
    if (v instanceof QFloat) return `F${v.value}`;
    if (typeof v === 'bigint') return `${v}n`;
    if (Array.isArray(v)) return `[${v.map(s).join(',')}]`;
    if (v !== null && typeof v === 'object') return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${s(v[k]!)}`).join(',')}}`;
    return JSON.stringify(v);
  };
  return s(r.value);
}

function whole(input: Buffer, limits?: JsonLimits): string[] {
  const out: string[] = [];
  new JsonStream((r) => out.push(show(r)), limits).feed(input);
  return out;
}

function byteByByte(input: Buffer, limits?: JsonLimits): string[] {
  const out: string[] = [];
  const s = new JsonStream((r) => out.push(show(r)), limits);
  for (let i = 0; i < input.length; i++) s.feed(input.subarray(i, i + 1));
  return out;
}

const SAMPLES = [
  '{"execute": "query-status", "id": 7}',
  '{"execute":"qmp_capabilities"}\r\n{"execute":"query-name","id":"a\\"b\\\\c\\/\\n"}',
  '{"execute": "object-add", "arguments": {"qom-type": "memory-backend-file", "id": "m1", "size": 1073741824, "share": true, "mem-path": "/tmp/x"}}',
  '{"a": [], "b": {}, "c": [1, -2, [true, false, null]], "d": {"e": {"f": "g"}}}',
  '{"execute": "x", "id": 123456789012345678}', // beyond 2^53: bigint, the exact path's
  '{"id": 0}', '{"id": -0}', '{"id": 01}', '{"id": 1.5}', '{"id": 1e3}', '{"id": -5}',
  '{"a": 1, "a": 2}', // duplicate key
  "{'execute': 'query-status'}", // single quotes
  '{"s": "\\u00e9\\ud83d\\ude00"}', '{"s": "é"}', '{"s": "\\x"}', '{"s": "tab\there"}',
  '{"k": truex}', '{"k": tru}', '{"k": nul}', '{"k": True}', '{"k": 1x}',
  '{"a": 1,}', '{,}', '{"a" 1}', '{"a": 1 "b": 2}', '{1: 2}', '{"a": [1 2]}', '{"a": [1,]}',
  '}', ']', '[1, 2]', '"str"', '42 ', 'true ', '  {"a": 1}  {"b": 2}{"c": 3}',
  '{"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}',
  '{"execute": "query-status"', // incomplete
  '{"__proto__": 1, "constructor": {"x": 2}}',
  '\x00{"a": 1}', '{"a": "\x7f"}', '{"a"\t:\n1\r}',
];

test('json-fast: every sample gives what the exact path gives', () => {
  for (const text of SAMPLES) {
    const input = Buffer.from(text, 'utf8');
    assert.deepEqual(whole(input), byteByByte(input), text);
  }
});

test('json-fast: mutated requests give what the exact path gives (deterministic fuzz)', () => {
  let seed = 0x1234567;
  const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const alphabet = Buffer.from('{}[]:,"\'\\ \t\r\n0123456789-+.eEtruefalsnl\x00\x7f\xc3\xa9abcxyz');
  for (let iter = 0; iter < 3000; iter++) {
    const base = Buffer.from(SAMPLES[rnd(SAMPLES.length)]! + SAMPLES[rnd(SAMPLES.length)]!, 'utf8');
    const input = Buffer.from(base);
    for (let k = rnd(4); k >= 0; k--) input[rnd(input.length)] = alphabet[rnd(alphabet.length)]!;
    assert.deepEqual(whole(input), byteByByte(input), JSON.stringify(input.toString('latin1')));
  }
});

test('json-fast: limits come from the exact path, with the same texts', () => {
  const limits = { maxValueBytes: 40, maxTokens: 12, maxNesting: 3 };
  const inputs = ['{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}', '{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": 1}',
    '{"a": {"b": {"c": {"d": 1}}}}', '{"a": {"b": {"c": 1}}}', '{"a": 1}{"b": 2}'];
  for (const text of inputs) {
    const input = Buffer.from(text);
    assert.deepEqual(whole(input, limits), byteByByte(input, limits), text);
  }
});

test('json-fast: plain requests take the one-pass path; the rest is left to the exact one', () => {
  const fast = (s: string) => parseFastObject(Buffer.from(s), 0, Buffer.byteLength(s), 1 << 20, 1024);
  const r = fast('{"execute": "query-status", "id": 7}\r\n');
  assert.ok(r);
  assert.equal(r.end, 36);
  assert.deepEqual({ ...r.value }, { execute: 'query-status', id: 7 });
  for (const s of ['{"id": 1.5}', '{"s": "\\u0041"}', '{"a": 1, "a": 2}', '{"id": 0}', '{"s": "é"}', '{"a": 1', "{'a': 1}"]) {
    assert.equal(fast(s), null, s);
  }
});

test('QDict order: the small-dict insertion sort agrees with the general sort', () => {
  // Past 16 keys qdictOrder sorts by (bucket, newest first); a prefix of the keys must come
  // out in the order the long list gives them.
  const keys = Array.from({ length: 40 }, (_, i) => ['status', 'running', 'singlestep', 'id', 'return', 'error', 'class', 'desc'][i % 8]! + (i >= 8 ? i : ''));
  const all = qdictOrder(keys);
  for (let m = 1; m <= 16; m++) {
    const prefix = keys.slice(0, m);
    assert.deepEqual(qdictOrder(prefix), all.filter((k) => prefix.includes(k)), `first ${m} keys`);
  }
});
