import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonStream, type JsonResult } from '../../src/monitor/json-stream.js';
import { QFloat, formatDouble, qdictOrder, quoteString, toJson, fromPlain } from '../../src/monitor/qobject.js';

function parseAll(input: string | Buffer, limits?: ConstructorParameters<typeof JsonStream>[1]): JsonResult[] {
  const out: JsonResult[] = [];
  const s = new JsonStream((r) => out.push(r), limits);
  s.feed(typeof input === 'string' ? Buffer.from(input) : input);
  return out;
}
const shown = (rs: JsonResult[]) => rs.map((r) => ('error' in r ? `E:${r.error}` : toJson(r.value)));

test('QEMU writer: separators, escapes, %.17g, integers beyond 2^53', () => {
  // Each expected text was printed by QEMU 7.2 echoing the same value as a request id.
  assert.equal(toJson(fromPlain({ a: [1, 2.5, true, null, 's'] })), '{"a": [1, 2.5, true, null, "s"]}');
  assert.equal(quoteString('é\u00e9\u{1F600}/\0\u007f"'), '"\\u00E9\\u00E9\\uD83D\\uDE00/\\u0000\\u007F\\""');
  const cases: [number, string][] = [[0.1, '0.10000000000000001'], [1e30, '1e+30'], [1.5e300, '1.5000000000000001e+300'],
    [-0, '-0'], [18446744073709551616, '1.8446744073709552e+19'], [-9223372036854775809, '-9.2233720368547758e+18'],
    [1e17, '1e+17'], [1e-5, '1.0000000000000001e-05'], [0.0001, '0.0001'], [100, '100'], [3, '3']];
  for (const [x, want] of cases) assert.equal(formatDouble(x), want, String(x));
  assert.equal(toJson(123456789012345678n), '123456789012345678');
  assert.equal(toJson(new QFloat(3)), '3');
});

test('QDict order: QEMU iterates by tdb_hash bucket, not insertion', () => {
  // Orders seen in QEMU 7.2's replies.
  assert.deepEqual(qdictOrder(['running', 'singlestep', 'status']), ['status', 'singlestep', 'running']);
  assert.deepEqual(qdictOrder(['major', 'minor', 'micro']), ['micro', 'minor', 'major']);
  assert.deepEqual(qdictOrder(['return', 'id']), ['return', 'id']);
  assert.deepEqual(qdictOrder(['error', 'id']), ['id', 'error']);
  assert.deepEqual(qdictOrder(['class', 'desc']), ['class', 'desc']);
  assert.deepEqual(qdictOrder(['event', 'timestamp']), ['timestamp', 'event']);
  assert.deepEqual(qdictOrder(['z', 'a', 'return', 'error', 'id', 'b', 'c']), ['a', 'b', 'z', 'return', 'c', 'id', 'error']);
  assert.deepEqual(qdictOrder(['id', 'size', 'merge', 'dump', 'prealloc', 'share', 'reserve', 'host-nodes', 'policy']),
    ['share', 'reserve', 'prealloc', 'host-nodes', 'size', 'merge', 'dump', 'policy', 'id']);
});

test('stream: concatenated values, with or without newlines, split anywhere', () => {
  const text = `{"execute":"a"}{"execute":"b"}\n{'execute':'c', "x": "it's"}  [1,{"y":[]}] "s" true 12 `;
  const whole = shown(parseAll(text));
  assert.deepEqual(whole, ['{"execute": "a"}', '{"execute": "b"}', '{"x": "it\'s", "execute": "c"}', '[1, {"y": []}]', '"s"', 'true', '12']);
  // Byte by byte gives the same values (a number ends only at the byte after it).
  const out: JsonResult[] = [];
  const s = new JsonStream((r) => out.push(r));
  for (const b of Buffer.from(text)) s.feed(Buffer.from([b]));
  assert.deepEqual(shown(out), whole);
  assert.deepEqual(shown(parseAll('12')), []);
});

test('stream: runs inside strings end at each quote, backslash or refused byte, wherever the input is split', () => {
  // Long runs (the string path scans them in one go) broken by every kind of byte that ends one.
  const run = 'x'.repeat(300);
  const text = Buffer.from(`{"a":"${run}\\n${run}'${run}"}{'b':'${run}"${run}\\'${run}'}{"c":"${run}\x01${run}"}{"d":"${run}\xfe"}{"e":"${run}é${run}"}`, 'latin1');
  const want = shown(parseAll(Buffer.from(text)));
  assert.equal(want[0], `{"a": "${run}\\n${run}'${run}"}`);
  assert.equal(want[1], `{"b": "${run}\\"${run}'${run}"}`);
  assert.deepEqual(want.slice(2).map((w) => w.slice(0, 40)), [
    `E:JSON parse error, stray '"${run.slice(0, 12)}`, 'E:JSON parse error, expecting value',
    `E:JSON parse error, stray '"${run.slice(0, 12)}`, 'E:JSON parse error, expecting value', 'E:JSON parse error, invalid UTF-8 sequen']);
  for (const size of [1, 7, 64, 1024]) {
    const out: JsonResult[] = [];
    const s = new JsonStream((r) => out.push(r));
    for (let i = 0; i < text.length; i += size) s.feed(text.subarray(i, i + size));
    assert.deepEqual(shown(out), want, `in pieces of ${size}`);
  }
});

test('stream: QEMU 7.2 error texts and resynchronisation', () => {
  // Left: input; right: what QEMU 7.2 answered (desc texts), recorded with real QEMU.
  const cases: [string | Buffer, string[]][] = [
    ['}', ['E:JSON parse error, expecting value']],
    ['\x01', ["E:JSON parse error, stray '\u0001'"]],
    ['{"id":"a\x01"}', ["E:JSON parse error, stray '\"a\u0001'", 'E:JSON parse error, expecting value']],
    [Buffer.from('{"id":"\xff"}', 'latin1'), ["E:JSON parse error, stray '\"\uFFFD'", 'E:JSON parse error, expecting value']],
    [Buffer.from('{"id":"\xc3"}', 'latin1'), ['E:JSON parse error, invalid UTF-8 sequence in string']],
    ['{"id":"\\q"}', ['E:JSON parse error, invalid escape sequence in string']],
    ['{"id":"\\uZZZZ"}', ['E:JSON parse error, \\uZZZZ is not a valid Unicode character']],
    ['{"id":"\\ud800"}', ['E:JSON parse error, \\ud800 is not a valid Unicode character']],
    ['tru ', ["E:JSON parse error, invalid keyword 'tru'"]],
    ['nul1 ', ["E:JSON parse error, invalid keyword 'nul'", '1']],
    ['{"execute" "x"}', ['E:JSON parse error, missing : in object pair']],
    ['{"execute":"q",}', ['E:JSON parse error, expecting value']],
    ['{"execute":"q","execute":"x"}', ['E:JSON parse error, duplicate key']],
    ['[1,]', ['E:JSON parse error, expecting value']],
    ['{1:2}', ['E:JSON parse error, key is not a string in object']],
    ['{"a":1 "b"}', ['E:JSON parse error, expected separator in dict']],
    ['[1 2]', ['E:JSON parse error, expected separator in list']],
    ['{"e":"q"}]', ['{"e": "q"}', 'E:JSON parse error, expecting value']],
    ['{"e":"q" @ "x"}', ["E:JSON parse error, stray '@'", 'E:JSON parse error, expecting value']],
    ['@@@ {"e":"q"}', ["E:JSON parse error, stray '@'", '{"e": "q"}']],
    ['ABC{"e":"q"}', ["E:JSON parse error, stray 'A'", '{"e": "q"}']],
    // After an error the lexer skips to a structural or control character.
    ['01 -a 1.e5 {"e":"q"}', ["E:JSON parse error, stray '01'", '{"e": "q"}']],
    ['{"a":\n', []],
  ];
  for (const [input, want] of cases) {
    const got = shown(parseAll(input));
    assert.equal(got.length, want.length, `${JSON.stringify(input.toString())}: ${JSON.stringify(got)}`);
    want.forEach((w, i) => assert.ok(got[i]!.startsWith(w), `${JSON.stringify(input.toString())}: ${got[i]} !~ ${w}`));
  }
});

test('stream: limits answer once, skip the rest of the value, and stay in step', () => {
  const limits = { maxValueBytes: 1000, maxTokens: 50, maxNesting: 10 };
  const big = `{"execute":"x","arguments":{"s":"${'a'.repeat(5000)}"}}{"execute":"ok"}`;
  assert.deepEqual(shown(parseAll(big, limits)), ['E:JSON token size limit exceeded', '{"execute": "ok"}']);
  const many = `[${'1,'.repeat(100)}1]{"execute":"ok"}`;
  assert.deepEqual(shown(parseAll(many, limits)), ['E:JSON token count limit exceeded', '{"execute": "ok"}']);
  const deep = `${'['.repeat(20)}${']'.repeat(20)}{"execute":"ok"}`;
  assert.deepEqual(shown(parseAll(deep, limits)), ['E:JSON nesting depth limit exceeded', '{"execute": "ok"}']);
  const nesting1024 = `${'['.repeat(1024)}${']'.repeat(1024)}`;
  assert.equal(shown(parseAll(nesting1024)).length, 1);
  assert.ok(!shown(parseAll(nesting1024))[0]!.startsWith('E:'));
  assert.deepEqual(shown(parseAll(`[${nesting1024}]`)), ['E:JSON nesting depth limit exceeded']);
});

test('stream: a 10 MB line is answered once and never held whole', () => {
  const out: JsonResult[] = [];
  const s = new JsonStream((r) => out.push(r));
  const chunk = Buffer.alloc(64 * 1024, 'a');
  s.feed(Buffer.from('{"execute":"x","arguments":{"s":"'));
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 160; i++) s.feed(chunk);
  const grown = process.memoryUsage().heapUsed - before;
  s.feed(Buffer.from('"}}\n{"execute":"ok"}'));
  assert.deepEqual(shown(out), ['E:JSON token size limit exceeded', '{"execute": "ok"}']);
  assert.ok(grown < 64 << 20, `heap grew ${grown}`);
});
