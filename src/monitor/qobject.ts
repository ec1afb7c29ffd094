/**
 * QEMU's JSON values (QObject) and its JSON writer, so replies match QEMU byte for byte.
 *
 * Why not JSON.stringify: QEMU writes `{"a": 1, "b": [1, 2]}` (", " and ": "), escapes
 * every non-ASCII character as \uXXXX (upper-case hex), prints floats with "%.17g",
 * and orders an object's keys by its hash table (QDict: 512 buckets of tdb_hash, newest
 * first within a bucket), not by insertion. Integers beyond 2^53 travel as bigint.
 */

/** A JSON float token (QNUM_DOUBLE). Kept apart from integers: QAPI rejects 1.0 where it wants an int. */
export class QFloat {
  constructor(readonly value: number) {}
}

export type QObject = null | boolean | number | bigint | string | QFloat | QObject[] | QDict;
export interface QDict { [key: string]: QObject }

export function isQDict(v: unknown): v is QDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof QFloat);
}

/** A dictionary without a prototype, so keys like "__proto__" are ordinary members. */
export function newQDict(): QDict {
  return Object.create(null) as QDict;
}

/** Buckets of keys seen recently: replies repeat the same few keys (bounded, cleared when full). */
const bucketCache = new Map<string, number>();

function bucketOf(key: string): number {
  let b = bucketCache.get(key);
  if (b === undefined) {
    if (bucketCache.size >= 4096) bucketCache.clear();
    b = tdbHash(key) % BUCKETS;
    bucketCache.set(key, b);
  }
  return b;
}

/** QDict's tdb_hash (gdbm's hash via tdb), computed on the key's UTF-8 bytes in 32-bit arithmetic. */
function tdbHash(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + ((bytes[i]! << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

const BUCKETS = 512;

/** The order in which QEMU iterates a QDict whose keys were inserted in `keys` order. */
export function qdictOrder(keys: string[]): string[] {
  const n = keys.length;
  if (n > 16) {
    const indexed = keys.map((k, i) => ({ k, i, b: bucketOf(k) }));
    indexed.sort((x, y) => x.b - y.b || y.i - x.i); // same bucket: QLIST_INSERT_HEAD puts the newest first
    return indexed.map((e) => e.k);
  }
  // Replies' dicts are small: an insertion sort without closures or objects (every reply
  // passes here, often before V8 has optimised anything). A key goes before the keys of
  // its bucket that came before it, as the sort above puts them.
  const out = new Array<string>(n), buckets = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!, b = bucketOf(k);
    let j = i;
    for (; j > 0 && buckets[j - 1]! >= b; j--) { out[j] = out[j - 1]!; buckets[j] = buckets[j - 1]!; }
    out[j] = k;
    buckets[j] = b;
  }
  return out;
}

/** "%.17g", what QEMU prints for a double. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mant, expText] = x.toExponential(16).split('e') as [string, string];
  const exp = Number(expText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 17) {
    return `${strip(mant)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return strip(x.toFixed(16 - exp));
}

/** Characters quoteString must rewrite; a string without any is copied as it is. */
const NEEDS_QUOTING = /["\\\u0000-\u001f\u007f-\uffff]/;

/** QEMU's quoted_str(): escapes, and \uXXXX for controls, DEL and everything beyond ASCII. */
export function quoteString(s: string): string {
  if (!NEEDS_QUOTING.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          // A lone surrogate is not a character: QEMU writes U+FFFD for what it cannot decode.
          const hi = c >= 0xd800 && c <= 0xdbff, lo = c >= 0xdc00 && c <= 0xdfff;
          const next = s.charCodeAt(i + 1);
          if (hi && next >= 0xdc00 && next <= 0xdfff) {
            out += hex4(c) + hex4(next);
            i++;
          } else {
            out += hi || lo ? '\\uFFFD' : hex4(c);
          }
        } else {
          out += s[i];
        }
    }
  }
  return out + '"';
}

function hex4(c: number): string {
  return '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
}

/** Serialises like qobject_to_json() (compact form). */
export function toJson(v: QObject): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : formatDouble(v);
  if (typeof v === 'string') return quoteString(v);
  if (v instanceof QFloat) return formatDouble(v.value);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i ? ', ' : '') + toJson(v[i]!);
    return out + ']';
  }
  const keys = qdictOrder(Object.keys(v));
  let out = '{';
  for (let i = 0; i < keys.length; i++) out += (i ? ', ' : '') + quoteString(keys[i]!) + ': ' + toJson(v[keys[i]!]!);
  return out + '}';
}

/** A QObject as a plain JS value (floats unwrapped, safe bigints as numbers): what handlers and clients see. */
export function toPlain(v: QObject): unknown {
  if (v instanceof QFloat) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (isQDict(v)) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) Object.defineProperty(o, k, { value: toPlain(v[k]!), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return v;
}

/** A plain JS value (from a handler) as a QObject; undefined members are left out, as QAPI leaves out absent optionals. */
export function fromPlain(v: unknown): QObject {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? v : new QFloat(v);
  if (v instanceof QFloat) return v;
  if (Array.isArray(v)) return v.map(fromPlain);
  if (typeof v === 'object') {
    const d = newQDict();
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (x !== undefined) d[k] = fromPlain(x);
    }
    return d;
  }
  throw new TypeError(`not JSON: ${typeof v}`);
}
