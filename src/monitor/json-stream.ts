/**
 * Splits a QMP byte stream into JSON values the way QEMU's json-lexer, json-streamer and
 * json-parser do (QEMU 7.2), so malformed input gets QEMU's error texts:
 *
 * - values may follow each other with or without white space; single-quoted strings are
 *   accepted ('a' is "a"); a top-level number ends only at the next byte that is not
 *   part of it;
 * - the lexer works on bytes: a byte it cannot place is "JSON parse error, stray '<token>'",
 *   after which it skips bytes until a structural character ({}[],:) or a control
 *   character, and starts again there;
 * - the streamer counts braces and brackets and hands over a value when they balance
 *   (or go negative); the parser reports the first problem ("expecting value", ...).
 *
 * Bounds (QEMU: 64 MiB per value, 2 Mi tokens, nesting 1024). pmemvm keeps 1 MiB per value,
 * 128 Ki tokens, nesting 1024. Past a bound the value gets QEMU's error text ("JSON token
 * size limit exceeded", "... count ...", "JSON nesting depth limit exceeded") at once and
 * the rest of that value is skipped without being stored, up to where its braces balance
 * (or the next lexical error), so a 10 MB line costs one error reply and the stream stays
 * in step. QEMU instead restarts right after the limit and answers the tail of the value
 * token by token: a deliberate difference.
 */
import { QFloat, type QDict, type QObject, newQDict } from './qobject.js';
import { isJsonSpace, parseFastObject } from './json-fast.js';

export interface JsonLimits {
  /** Bytes of tokens in one value (QEMU counts each token's length + 1). */
  maxValueBytes: number;
  maxTokens: number;
  maxNesting: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxValueBytes: 1 << 20, maxTokens: 128 << 10, maxNesting: 1024 };

export type JsonResult = { value: QObject } | { error: string };

const enum T { LCurly, RCurly, LSquare, RSquare, Colon, Comma, Integer, Float, Keyword, String }
interface Token { type: T; text: Buffer }

const enum S {
  Start, Recovery, DqString, DqEscape, SqString, SqEscape,
  Zero, NonZero, Neg, Mantissa, MantissaDigits, ExpE, Sign, Digits, Keyword,
}

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** The bytes that end a run inside a string: its quote, a backslash, a byte the lexer refuses. */
const DQ_STOP = /["\\\x00-\x1f\xfe\xff]/g;
const SQ_STOP = /['\\\x00-\x1f\xfe\xff]/g;

export class JsonStream {
  private state = S.Start;
  /** Bytes of the token being lexed (only while the value is within its bound). */
  private tok: number[] = [];
  private tokLen = 0;
  private tokens: Token[] = [];
  private tokenBytes = 0;
  private braces = 0;
  private brackets = 0;
  /** After a limit error: skip the rest of the value. */
  private skipping = false;
  /** The piece being fed as latin1 text, made once per piece for stringRun's searches. */
  private text: { of: Uint8Array; text: string } | undefined;

  constructor(
    private readonly emit: (r: JsonResult) => void,
    private readonly limits: JsonLimits = DEFAULT_JSON_LIMITS,
  ) {}

  feed(data: Uint8Array): void {
    this.text = undefined;
    let i = 0;
    while (i < data.length) {
      // Between values, whole objects go the one-pass way, also after a value that began in
      // an earlier piece (input comes in 1 KiB pieces that rarely end where a value does: byte
      // by byte, a flood of small requests held the main thread 70 ms per piece in the test host).
      if (this.idle()) {
        i = this.feedFast(data, i);
        if (i >= data.length) break;
      }
      if (this.state === S.DqString || this.state === S.SqString) {
        const j = this.stringRun(data, i);
        if (j > i) { i = j; continue; }
      }
      this.feedByte(data[i++]!);
    }
  }

  /**
   * Inside a string, the bytes that only extend it (up to its quote, a backslash or a byte
   * the lexer refuses) taken in one go, as feedByte would one by one; returns where that run
   * ends. pmemvm's code runs without TurboFan (bin/pmemvm.cjs), where a few calls per
   * byte made a 10 MB string take minutes in the test host, and a loop per byte 10 s.
   */
  private stringRun(data: Uint8Array, from: number): number {
    // The end of the run found by a regular expression (native code) over the piece as latin1,
    // converted once per piece: a string of many escapes has a run between each two.
    if (this.text?.of !== data) this.text = { of: data, text: Buffer.from(data.buffer, data.byteOffset, data.length).toString('latin1') };
    const stop = this.state === S.DqString ? DQ_STOP : SQ_STOP;
    stop.lastIndex = from;
    const j = stop.exec(this.text.text)?.index ?? data.length;
    const run = j - from;
    if (run === 0 || this.skipping) { this.tokLen += run; return j; }
    const room = this.limits.maxValueBytes - 1 - this.tokenBytes - this.tokLen; // bytes append() still stores
    const kept = Math.min(run, Math.max(room, 0));
    for (let k = from; k < from + kept; k++) this.tok.push(data[k]!);
    this.tokLen += kept;
    if (kept < run) { this.append(data[from + kept]!); this.tokLen += run - kept - 1; } // the limit's error, then skipping
    return j;
  }

  /** Between values, with nothing pending: the one-pass path may read what follows. */
  private idle(): boolean {
    return this.state === S.Start && this.tokLen === 0 && this.tokens.length === 0 && !this.skipping;
  }

  /**
   * Whole plain objects at the start of `data`, by json-fast.ts, and the white space after
   * them (the exact lexer skips it too); returns where the exact path takes over.
   */
  private feedFast(data: Uint8Array, from: number): number {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const { maxValueBytes, maxTokens, maxNesting } = this.limits;
    // Within these bytes the exact path could not reach a limit (each token is at least a byte).
    const maxBytes = Math.min(maxValueBytes - 1, maxTokens);
    let i = from;
    for (;;) {
      while (i < buf.length && isJsonSpace(buf[i]!)) i++;
      if (i >= buf.length || buf[i] !== 0x7b) return i;
      const r = parseFastObject(buf, i, buf.length, maxBytes, maxNesting);
      if (!r) return i;
      i = r.end;
      this.emit({ value: r.value });
    }
  }

  /** Forgets any partial value (a new client on the same monitor). */
  reset(): void {
    this.state = S.Start;
    this.clearToken();
    this.resetValue();
  }

  private feedByte(b: number): void {
    // A byte either extends the token, ends it (consumed), or ends it and is looked at again.
    for (;;) {
      const r = this.step(b);
      if (r !== 'again') return;
    }
  }

  /** One transition; returns 'again' when the byte must be re-read from the start state. */
  private step(b: number): 'done' | 'again' {
    switch (this.state) {
      case S.Start:
        if (isJsonSpace(b)) return 'done';
        switch (b) {
          case 0x7b: return this.single(T.LCurly, b);
          case 0x7d: return this.single(T.RCurly, b);
          case 0x5b: return this.single(T.LSquare, b);
          case 0x5d: return this.single(T.RSquare, b);
          case 0x3a: return this.single(T.Colon, b);
          case 0x2c: return this.single(T.Comma, b);
          case 0x22: return this.to(S.DqString, b);
          case 0x27: return this.to(S.SqString, b);
          case 0x30: return this.to(S.Zero, b);
          case 0x2d: return this.to(S.Neg, b);
        }
        if (b >= 0x31 && b <= 0x39) return this.to(S.NonZero, b);
        if (b >= 0x61 && b <= 0x7a) return this.to(S.Keyword, b);
        return this.error(b);
      case S.Recovery:
        if (b === 0x09 || (b >= 0x20 && b <= 0xfd && !isStructural(b))) return 'done';
        this.state = S.Start;
        return 'again';
      case S.DqString:
      case S.SqString: {
        const quote = this.state === S.DqString ? 0x22 : 0x27;
        if (b === quote) { this.append(b); return this.finish(T.String); }
        if (b === 0x5c) return this.to(this.state === S.DqString ? S.DqEscape : S.SqEscape, b);
        if (b >= 0x20 && b <= 0xfd) return this.to(this.state, b);
        return this.error(b);
      }
      case S.DqEscape:
      case S.SqEscape:
        // The lexer takes any printable byte here; the parser judges the escape.
        if (b >= 0x20 && b <= 0xfd) return this.to(this.state === S.DqEscape ? S.DqString : S.SqString, b);
        return this.error(b);
      case S.Zero:
        if (isDigit(b)) return this.error(b);
        if (b === 0x2e) return this.to(S.Mantissa, b);
        return this.finishAgain(T.Integer);
      case S.NonZero:
        if (isDigit(b)) return this.to(S.NonZero, b);
        if (b === 0x65 || b === 0x45) return this.to(S.ExpE, b);
        if (b === 0x2e) return this.to(S.Mantissa, b);
        return this.finishAgain(T.Integer);
      case S.Neg:
        if (b === 0x30) return this.to(S.Zero, b);
        if (b >= 0x31 && b <= 0x39) return this.to(S.NonZero, b);
        return this.error(b);
      case S.Mantissa:
        if (isDigit(b)) return this.to(S.MantissaDigits, b);
        return this.error(b);
      case S.MantissaDigits:
        if (isDigit(b)) return this.to(S.MantissaDigits, b);
        if (b === 0x65 || b === 0x45) return this.to(S.ExpE, b);
        return this.finishAgain(T.Float);
      case S.ExpE:
        if (b === 0x2b || b === 0x2d) return this.to(S.Sign, b);
        if (isDigit(b)) return this.to(S.Digits, b);
        return this.error(b);
      case S.Sign:
        if (isDigit(b)) return this.to(S.Digits, b);
        return this.error(b);
      case S.Digits:
        if (isDigit(b)) return this.to(S.Digits, b);
        return this.finishAgain(T.Float);
      case S.Keyword:
        if (b >= 0x61 && b <= 0x7a) return this.to(S.Keyword, b);
        return this.finishAgain(T.Keyword);
    }
  }

  private to(state: S, b: number): 'done' {
    this.state = state;
    this.append(b);
    return 'done';
  }

  private single(type: T, b: number): 'done' {
    this.append(b);
    return this.finish(type);
  }

  private finishAgain(type: T): 'again' {
    this.finish(type);
    return 'again';
  }

  private append(b: number): void {
    this.tokLen++;
    if (this.skipping) return;
    if (this.tokenBytes + this.tokLen + 1 > this.limits.maxValueBytes) {
      this.startSkipping('JSON token size limit exceeded');
      return;
    }
    this.tok.push(b);
  }

  private clearToken(): void {
    this.tok = [];
    this.tokLen = 0;
  }

  private resetValue(): void {
    this.tokens = [];
    this.tokenBytes = 0;
    this.braces = 0;
    this.brackets = 0;
    this.skipping = false;
  }

  private startSkipping(message: string): void {
    this.tokens = [];
    this.tok = [];
    this.skipping = true;
    this.emit({ error: message });
  }

  /** A complete token: QEMU's json_message_process_token(). */
  private finish(type: T): 'done' {
    this.state = S.Start;
    const text = Buffer.from(this.tok);
    const len = this.tokLen;
    this.clearToken();
    switch (type) {
      case T.LCurly: this.braces++; break;
      case T.RCurly: this.braces--; break;
      case T.LSquare: this.brackets++; break;
      case T.RSquare: this.brackets--; break;
      default: break;
    }
    const balanced = !((this.braces > 0 || this.brackets > 0) && this.braces >= 0 && this.brackets >= 0);
    if (this.skipping) {
      if (balanced) this.resetValue();
      return 'done';
    }
    if (this.tokens.length + 1 > this.limits.maxTokens) {
      this.startSkipping('JSON token count limit exceeded');
    } else if (this.braces + this.brackets > this.limits.maxNesting) {
      this.startSkipping('JSON nesting depth limit exceeded');
    } else {
      this.tokens.push({ type, text });
      this.tokenBytes += len;
      if (!balanced) return 'done';
      const tokens = this.tokens;
      this.resetValue();
      this.emit(parseTokens(tokens));
      return 'done';
    }
    if (balanced) this.resetValue();
    return 'done';
  }

  /** A byte the lexer cannot place: report the token so far, drop the value, recover. */
  private error(b: number): 'done' {
    this.tok.push(b);
    const text = Buffer.from(this.tok);
    this.clearToken();
    this.resetValue();
    this.state = S.Recovery;
    this.emit({ error: `JSON parse error, stray '${decodeLossy(text)}'` });
    return 'done';
  }
}

function isStructural(b: number): boolean {
  return b === 0x7b || b === 0x7d || b === 0x5b || b === 0x5d || b === 0x3a || b === 0x2c;
}

/** QEMU's is_valid_codepoint(): no surrogates, no noncharacters, nothing past U+10FFFF. */
function validCodepoint(cp: number): boolean {
  if (cp > 0x10ffff || cp < 0) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  return !(cp >= 0xd800 && cp <= 0xdfff);
}

/**
 * QEMU's mod_utf8_codepoint(): one code point from `buf` at `pos` (modified UTF-8, so
 * C0 80 is U+0000); returns the code point (-1 if invalid) and where the next one starts.
 */
function codepointAt(buf: Buffer, pos: number, limit: number): [number, number] {
  const byte = buf[pos]!;
  if (byte < 0x80) return [byte, pos + 1];
  if (byte >= 0xfe || (byte & 0x40) === 0) return [-1, pos + 1];
  let len = 0, mask = 0x80;
  for (; byte & mask; mask >>= 1) len++;
  let cp = byte & (mask - 1);
  let p = pos + 1;
  for (let i = 1; i < len; i++) {
    const c = p < limit ? buf[p]! : 0;
    if ((c & 0xc0) !== 0x80) return [-1, p];
    p++;
    cp = cp * 64 + (c & 0x3f);
  }
  const minCp = [0x80, 0x800, 0x10000, 0x200000, 0x4000000][len - 2]!;
  if (!validCodepoint(cp) || (cp < minCp && !(cp === 0 && len === 2))) return [-1, p];
  return [cp, p];
}

/** Bytes as text the way QEMU's writer shows them: what does not decode becomes U+FFFD. */
function decodeLossy(buf: Buffer): string {
  let s = '';
  for (let p = 0; p < buf.length;) {
    if (buf[p] === 0) { s += '\uFFFD'; p++; continue; }
    const [cp, next] = codepointAt(buf, p, buf.length);
    s += cp < 0 ? '\uFFFD' : String.fromCodePoint(cp);
    p = next;
  }
  return s;
}

/** Thrown inside the parser only; not an Error, so no stack trace is built per bad value. */
class ParseError {
  constructor(readonly message: string) {}
}

/** json_parser_parse(): one value from a complete token list; the first problem wins. */
export function parseTokens(tokens: Token[]): JsonResult {
  let pos = 0;
  const fail = (msg: string): never => { throw new ParseError(`JSON parse error, ${msg}`); };
  const peek = (): Token | undefined => tokens[pos];
  const pop = (): Token | undefined => tokens[pos++];

  function value(): QObject {
    const t = peek();
    if (!t) return fail('premature EOI');
    switch (t.type) {
      case T.LCurly: return object();
      case T.LSquare: return array();
      case T.Integer: pos++; return integer(t.text.toString('latin1'));
      case T.Float: pos++; return new QFloat(Number(t.text.toString('latin1')));
      case T.String: pos++; return string(t.text);
      case T.Keyword: {
        pos++;
        const k = t.text.toString('latin1');
        if (k === 'true') return true;
        if (k === 'false') return false;
        if (k === 'null') return null;
        return fail(`invalid keyword '${k}'`);
      }
      default: return fail('expecting value');
    }
  }

  function object(): QDict {
    pos++; // '{'
    const dict = newQDict();
    const p = peek();
    if (!p) return fail('premature EOI');
    if (p.type === T.RCurly) { pos++; return dict; }
    pair(dict);
    for (let t = pop(); ; t = pop()) {
      if (!t) return fail('premature EOI');
      if (t.type === T.RCurly) return dict;
      if (t.type !== T.Comma) return fail('expected separator in dict');
      pair(dict);
    }
  }

  function pair(dict: QDict): void {
    if (!peek()) fail('premature EOI');
    const key = value();
    if (typeof key !== 'string') fail('key is not a string in object');
    const colon = pop();
    if (!colon) fail('premature EOI');
    if (colon!.type !== T.Colon) fail('missing : in object pair');
    const v = value();
    if (Object.prototype.hasOwnProperty.call(dict, key as string)) fail('duplicate key');
    dict[key as string] = v;
  }

  function array(): QObject[] {
    pos++; // '['
    const list: QObject[] = [];
    const p = peek();
    if (!p) return fail('premature EOI');
    if (p.type === T.RSquare) { pos++; return list; }
    list.push(value());
    for (let t = pop(); ; t = pop()) {
      if (!t) return fail('premature EOI');
      if (t.type === T.RSquare) return list;
      if (t.type !== T.Comma) return fail('expected separator in list');
      list.push(value());
    }
  }

  try {
    return { value: value() };
  } catch (e) {
    if (e instanceof ParseError) return { error: e.message };
    throw e;
  }

  /** int64 if it fits, else uint64, else a double (QEMU's QNum rules). */
  function integer(text: string): QObject {
    const n = BigInt(text);
    if (n >= -(1n << 63n) && n < (1n << 64n)) {
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    return new QFloat(Number(text));
  }

  /** parse_string(): escapes (plus \' ), surrogate pairs, and strict modified UTF-8. */
  function string(buf: Buffer): string {
    const quote = buf[0]!;
    let s = '';
    let p = 1;
    while (buf[p] !== quote) {
      if (buf[p] === 0x5c) {
        const beg = p;
        const c = buf[p + 1];
        p += 2;
        const simple: Record<number, string> = { 0x22: '"', 0x27: "'", 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };
        if (c !== undefined && simple[c] !== undefined) { s += simple[c]; continue; }
        if (c !== 0x75) fail('invalid escape sequence in string');
        let cp = hex4(buf, p);
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && buf[p] === 0x5c && buf[p + 1] === 0x75) {
          const trailing = hex4(buf, p + 2);
          if (trailing >= 0xdc00 && trailing <= 0xdfff) {
            cp = 0x10000 + ((cp & 0x3ff) << 10) + (trailing & 0x3ff);
            p += 6;
          } else {
            cp = -1;
          }
        }
        if (!validCodepoint(cp)) {
          // QEMU prints the escape as written (%.*s stops at the token's end).
          const shown = buf.subarray(beg, Math.min(p, buf.length)).toString('latin1');
          fail(`${shown} is not a valid Unicode character`);
        }
        s += String.fromCodePoint(cp);
        if (p > buf.length - 1) break; // an escape that ran over the closing quote
        continue;
      }
      const [cp, next] = codepointAt(buf, p, Math.min(p + 6, buf.length));
      if (cp < 0) fail('invalid UTF-8 sequence in string');
      s += String.fromCodePoint(cp);
      p = next;
    }
    return s;
  }
}

function hex4(buf: Buffer, at: number): number {
  let cp = 0;
  for (let i = 0; i < 4; i++) {
    const c = buf[at + i];
    if (c === undefined) return -1;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (d < 0) return -1;
    cp = cp * 16 + d;
  }
  return cp;
}
