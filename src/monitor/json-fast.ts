/**
 * The common case of QMP input in one pass: a whole JSON object of plain ASCII (what every
 * client sends), turned into the same QObject that json-stream.ts's QEMU-exact lexer and
 * parser would build. That path takes each byte through a state machine and each token
 * through a Buffer; under emulation it cost most of a request's time (bench/RESULTS,
 * session 11). Anything else gives up (null) and the caller lets the exact path read the
 * same bytes from the same place: escapes other than the simple ones, bytes outside
 * printable ASCII, numbers other than short integers, duplicate keys, single quotes, a value
 * that is incomplete or near a limit. So every error text still comes from one place.
 */
import { type QDict, type QObject, newQDict } from './qobject.js';

/** A parsed value and the offset just past it. */
export interface FastValue { value: QDict; end: number }

/** Nesting deeper than this is left to the exact path (QEMU's limit is 1024). */
const MAX_DEPTH = 64;
/** Integers up to this many digits are exact as a double (< 2^53). */
const MAX_DIGITS = 15;

class GiveUp {}
const GIVE_UP = new GiveUp();

/** JSON's white space, as QEMU's lexer skips it between tokens. */
export const isJsonSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

const SIMPLE_ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };

/**
 * Parses the object starting at `start` (a '{'), if it is complete within `end` and no
 * larger than `maxBytes`; null otherwise.
 */
export function parseFastObject(buf: Buffer, start: number, end: number, maxBytes: number, maxDepth: number): FastValue | null {
  const stop = Math.min(end, start + maxBytes);
  const depthLimit = Math.min(maxDepth, MAX_DEPTH);
  let p = start;

  const ws = (): void => {
    while (p < stop && isJsonSpace(buf[p]!)) p++;
  };
  const need = (): number => {
    if (p >= stop) throw GIVE_UP;
    return buf[p]!;
  };

  const string = (): string => {
    p++; // the opening '"'
    let s = '';
    let run = p;
    for (;;) {
      const b = need();
      if (b === 0x22) {
        s += buf.toString('latin1', run, p);
        p++;
        return s;
      }
      if (b === 0x5c) {
        s += buf.toString('latin1', run, p);
        p++;
        const e = SIMPLE_ESCAPES[need()];
        if (e === undefined) throw GIVE_UP;
        s += e;
        p++;
        run = p;
        continue;
      }
      if (b < 0x20 || b > 0x7e) throw GIVE_UP;
      p++;
    }
  };

  const integer = (): number => {
    const from = p;
    if (buf[p] === 0x2d) p++;
    const first = need();
    if (first < 0x31 || first > 0x39) throw GIVE_UP; // 0, -0, or not a digit: the exact path
    let n = 0;
    for (; p < stop; p++) {
      const b = buf[p]!;
      if (b < 0x30 || b > 0x39) break;
      n = n * 10 + (b - 0x30);
    }
    const next = need(); // a number at the end of the input may go on in the next chunk
    if (next === 0x2e || next === 0x65 || next === 0x45) throw GIVE_UP;
    if (p - from > MAX_DIGITS) throw GIVE_UP;
    return buf[from] === 0x2d ? -n : n;
  };

  const keyword = (word: string, v: QObject): QObject => {
    for (let i = 0; i < word.length; i++, p++) if (need() !== word.charCodeAt(i)) throw GIVE_UP;
    const next = need();
    if (next >= 0x61 && next <= 0x7a) throw GIVE_UP; // a longer keyword
    return v;
  };

  const value = (depth: number): QObject => {
    const b = need();
    switch (b) {
      case 0x7b: return object(depth + 1);
      case 0x5b: return array(depth + 1);
      case 0x22: return string();
      case 0x74: return keyword('true', true);
      case 0x66: return keyword('false', false);
      case 0x6e: return keyword('null', null);
      default:
        if (b === 0x2d || (b >= 0x30 && b <= 0x39)) return integer();
        throw GIVE_UP;
    }
  };

  /** After a member: the closing bracket (true), or a comma and the next member (false). */
  const closedOrNext = (close: number): boolean => {
    ws();
    const b = need();
    p++;
    if (b === close) return true;
    if (b !== 0x2c) throw GIVE_UP;
    ws();
    return false;
  };

  const object = (depth: number): QDict => {
    if (depth > depthLimit) throw GIVE_UP;
    p++; // '{'
    const dict = newQDict();
    ws();
    if (need() === 0x7d) { p++; return dict; }
    for (;;) {
      if (need() !== 0x22) throw GIVE_UP;
      const key = string();
      ws();
      if (need() !== 0x3a) throw GIVE_UP;
      p++;
      ws();
      const v = value(depth);
      if (Object.prototype.hasOwnProperty.call(dict, key)) throw GIVE_UP;
      dict[key] = v;
      if (closedOrNext(0x7d)) return dict;
    }
  };

  const array = (depth: number): QObject[] => {
    if (depth > depthLimit) throw GIVE_UP;
    p++; // '['
    const list: QObject[] = [];
    ws();
    if (need() === 0x5d) { p++; return list; }
    for (;;) {
      list.push(value(depth));
      if (closedOrNext(0x5d)) return list;
    }
  };

  try {
    const v = object(1);
    return { value: v, end: p };
  } catch (e) {
    if (e === GIVE_UP) return null;
    throw e;
  }
}
