// AML (ACPI Machine Language) encoder, ACPI 6.x chapter 20.
// Every function returns the bytes of one AML term; terms compose by nesting.
// Integers given where a TermArg is expected are encoded in their smallest form.

import { endTag } from './aml-resource.js';
import { concat, le } from './bytes.js';
import { guidBytes } from './guid.js';

export { concat } from './bytes.js';
export * from './aml-resource.js';

/** Encoded AML bytes of one term (or a list of terms). */
export type Aml = Uint8Array;
/** A TermArg: ready-made AML, or an integer to encode with int(). */
export type Arg = Aml | number | bigint;

const EXT = 0x5b; // ExtOpPrefix

function term(a: Arg): Aml {
  return typeof a === 'number' || typeof a === 'bigint' ? int(a) : a;
}
function op(code: number | readonly number[], ...parts: Aml[]): Aml {
  return concat(typeof code === 'number' ? u8s(code) : u8s(...code), ...parts);
}
function u8s(...b: number[]): Aml {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[i]!;
  return out;
}

// ---- Names ---------------------------------------------------------------

/** One 4-character NameSeg, padded with '_' ("PCI" -> "PCI_"). */
export function nameSeg(seg: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new RangeError(`bad AML NameSeg "${seg}"`);
  const out = new Uint8Array(4).fill(0x5f); // '_'
  for (let i = 0; i < seg.length; i++) out[i] = seg.charCodeAt(i);
  return out;
}

/**
 * NameString: optional root '\' or parent '^' prefixes, then a dotted path.
 * 0 segs -> NullName, 1 -> NameSeg, 2 -> DualNamePrefix, >2 -> MultiNamePrefix.
 */
export function nameString(path: string): Aml {
  let i = 0;
  const prefix: number[] = [];
  if (path.startsWith('\\')) {
    prefix.push(0x5c);
    i = 1;
  } else {
    while (path[i] === '^') {
      prefix.push(0x5e);
      i++;
    }
  }
  const rest = path.slice(i);
  const segs = rest === '' ? [] : rest.split('.').map(nameSeg);
  let body: Aml;
  if (segs.length === 0) body = u8s(0x00);
  else if (segs.length === 1) body = segs[0]!;
  else if (segs.length === 2) body = concat(u8s(0x2e), ...segs);
  else if (segs.length <= 255) body = concat(u8s(0x2f, segs.length), ...segs);
  else throw new RangeError(`AML path "${path}" has too many segments`);
  return concat(Uint8Array.from(prefix), body);
}

/** A reference to a named object (a NameString used as a TermArg/SuperName). */
export const ref = nameString;

// ---- PkgLength -----------------------------------------------------------

/**
 * Encode a PkgLength value as given (1-4 bytes). One byte holds 0..63; longer
 * forms put the byte count in bits 7:6 of the lead byte, its low nibble in
 * bits 3:0 and 8 more bits in each following byte (max 2^28-1).
 */
export function pkgLength(value: number): Aml {
  if (!Number.isInteger(value) || value < 0 || value > 0x0fffffff) {
    throw new RangeError(`PkgLength ${value} out of range`);
  }
  if (value <= 0x3f) return u8s(value);
  const extra = value <= 0xfff ? 1 : value <= 0xfffff ? 2 : 3;
  const out = [(extra << 6) | (value & 0x0f)];
  for (let k = 0; k < extra; k++) out.push((value >>> (4 + 8 * k)) & 0xff);
  return Uint8Array.from(out);
}

/** Prefix `body` with the PkgLength that counts itself plus the body. */
export function withPkgLength(body: Aml): Aml {
  const n = body.length;
  const total = n + 1 <= 0x3f ? n + 1 : n + 2 <= 0xfff ? n + 2 : n + 3 <= 0xfffff ? n + 3 : n + 4;
  return concat(pkgLength(total), body);
}

// ---- Data objects --------------------------------------------------------

const ONES = (1n << 64n) - 1n;

/** Integer in its smallest encoding; 2^64-1 (~0) becomes OnesOp. */
export function int(value: number | bigint): Aml {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`AML integer ${value} is not a safe integer (use a bigint)`);
  }
  // Values that fit in 32 bits (nearly all) as numbers, without BigInt: see concat.
  if (typeof value === 'bigint' && value >= 0n && value <= 0xffffffffn) value = Number(value);
  if (typeof value === 'number' && value >= 0 && value <= 0xffffffff) {
    if (value <= 1) return u8s(value); // ZeroOp, OneOp
    if (value <= 0xff) return concat(u8s(0x0a), le(value, 1));
    if (value <= 0xffff) return concat(u8s(0x0b), le(value, 2));
    return concat(u8s(0x0c), le(value, 4));
  }
  const v = BigInt(value);
  if (v < 0n || v > ONES) throw new RangeError(`AML integer ${value} out of range`);
  if (v === ONES) return u8s(0xff); // OnesOp
  return concat(u8s(0x0e), le(v, 8));
}

/** String literal (ASCII, NUL-terminated). */
export function str(text: string): Aml {
  if (!/^[\x01-\x7f]*$/.test(text)) throw new RangeError('AML strings are 7-bit ASCII without NUL');
  return concat(u8s(0x0d), Uint8Array.from(text, (c) => c.charCodeAt(0)), u8s(0x00));
}

/** Buffer initialised with `data`; `size` (default data.length) may be larger, or a TermArg. */
export function buffer(data: Uint8Array, size: Arg = data.length): Aml {
  return op(0x11, withPkgLength(concat(term(size), data)));
}

/** Package with a fixed element count (<= 255). */
export function pkg(...elements: Arg[]): Aml {
  if (elements.length > 255) throw new RangeError('Package has more than 255 elements; use varPkg');
  return op(0x12, withPkgLength(concat(u8s(elements.length), ...elements.map(term))));
}

/** VarPackage: the element count is a TermArg. */
export function varPkg(count: Arg, ...elements: Arg[]): Aml {
  return op(0x13, withPkgLength(concat(term(count), ...elements.map(term))));
}

/** ToUUID("...") as a 16-byte Buffer in ACPI GUID byte order. */
export function toUUID(text: string): Aml {
  return buffer(guidBytes(text));
}

/** EISAID("PNP0A03") -> 0x030AD041: 3 letters at 5 bits each + 4 hex digits, big-endian. */
export function eisaId(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`bad EISA id "${id}"`);
  const c = (i: number) => id.charCodeAt(i) - 0x40;
  const be = ((c(0) << 26) | (c(1) << 21) | (c(2) << 16) | parseInt(id.slice(3), 16)) >>> 0;
  // AML stores the dword little-endian, so swap to keep the big-endian byte order.
  return (((be & 0xff) << 24) | ((be & 0xff00) << 8) | ((be >>> 8) & 0xff00) | (be >>> 24)) >>> 0;
}

// ---- Namespace modifiers and named objects ---------------------------------

export function name(path: string, value: Arg): Aml {
  return op(0x08, nameString(path), term(value));
}

export function scope(path: string, ...terms: Aml[]): Aml {
  return op(0x10, withPkgLength(concat(nameString(path), ...terms)));
}

export function device(path: string, ...terms: Aml[]): Aml {
  return op([EXT, 0x82], withPkgLength(concat(nameString(path), ...terms)));
}

export interface MethodOptions {
  args?: number; // 0..7
  serialized?: boolean;
  syncLevel?: number; // 0..15
}

export function method(path: string, opts: MethodOptions, ...terms: Aml[]): Aml {
  const args = opts.args ?? 0;
  const sync = opts.syncLevel ?? 0;
  if (args < 0 || args > 7 || sync < 0 || sync > 15) throw new RangeError('bad Method flags');
  const flags = args | (opts.serialized ? 0x08 : 0) | (sync << 4);
  return op(0x14, withPkgLength(concat(nameString(path), u8s(flags), ...terms)));
}

/** Method invocation: the name followed by its arguments. */
export function call(path: string, ...args: Arg[]): Aml {
  return concat(nameString(path), ...args.map(term));
}

// ---- Locals, args, control flow ----------------------------------------------

export function local(n: number): Aml {
  if (!Number.isInteger(n) || n < 0 || n > 7) throw new RangeError(`Local${n}`);
  return u8s(0x60 + n);
}
export function arg(n: number): Aml {
  if (!Number.isInteger(n) || n < 0 || n > 6) throw new RangeError(`Arg${n}`);
  return u8s(0x68 + n);
}

export function ret(value: Arg): Aml {
  return op(0xa4, term(value));
}
export function ifOp(predicate: Arg, ...terms: Aml[]): Aml {
  return op(0xa0, withPkgLength(concat(term(predicate), ...terms)));
}
/** Else; must directly follow an ifOp in the same term list. */
export function elseOp(...terms: Aml[]): Aml {
  return op(0xa1, withPkgLength(concat(...terms)));
}
export function whileOp(predicate: Arg, ...terms: Aml[]): Aml {
  return op(0xa2, withPkgLength(concat(term(predicate), ...terms)));
}

// ---- Expressions -------------------------------------------------------------

/** Target operand: a SuperName, or NullName when the result is only returned. */
function target(t?: Aml): Aml {
  return t ?? u8s(0x00);
}

export function store(value: Arg, dest: Aml): Aml {
  return op(0x70, term(value), dest);
}
export function add(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x72, term(a), term(b), target(dest));
}
export function subtract(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x74, term(a), term(b), target(dest));
}
export function shiftLeft(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x79, term(a), term(b), target(dest));
}
export function shiftRight(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x7a, term(a), term(b), target(dest));
}
export function and(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x7b, term(a), term(b), target(dest));
}
export function or(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x7d, term(a), term(b), target(dest));
}
export function lAnd(a: Arg, b: Arg): Aml {
  return op(0x90, term(a), term(b));
}
export function lOr(a: Arg, b: Arg): Aml {
  return op(0x91, term(a), term(b));
}
export function lNot(a: Arg): Aml {
  return op(0x92, term(a));
}
export function lEqual(a: Arg, b: Arg): Aml {
  return op(0x93, term(a), term(b));
}
export function lGreater(a: Arg, b: Arg): Aml {
  return op(0x94, term(a), term(b));
}
export function lLess(a: Arg, b: Arg): Aml {
  return op(0x95, term(a), term(b));
}
export function derefOf(a: Arg): Aml {
  return op(0x83, term(a));
}
export function sizeOf(a: Aml): Aml {
  return op(0x87, a);
}
export function index(source: Aml, idx: Arg, dest?: Aml): Aml {
  return op(0x88, source, term(idx), target(dest));
}
/** ObjectType(obj): 1 Integer, 2 String, 3 Buffer, 4 Package, ... */
export function objectType(a: Aml): Aml {
  return op(0x8e, a);
}
/** Mid(Source, Index, Length): always a Buffer (or String), clipped to the source. */
export function mid(source: Arg, idx: Arg, length: Arg, dest?: Aml): Aml {
  return op(0x9e, term(source), term(idx), term(length), target(dest));
}
/** Concatenate(a, b): two buffers (or strings) joined. */
export function concatenate(a: Arg, b: Arg, dest?: Aml): Aml {
  return op(0x73, term(a), term(b), target(dest));
}
export function lNotEqual(a: Arg, b: Arg): Aml {
  return op(0x92, op(0x93, term(a), term(b)));
}
export function notify(object: Aml, value: Arg): Aml {
  return op(0x86, object, term(value));
}

// ---- Buffer fields -------------------------------------------------------------

export function createByteField(buf: Aml, byteIndex: Arg, fieldName: string): Aml {
  return op(0x8c, buf, term(byteIndex), nameString(fieldName));
}
export function createWordField(buf: Aml, byteIndex: Arg, fieldName: string): Aml {
  return op(0x8b, buf, term(byteIndex), nameString(fieldName));
}
export function createDWordField(buf: Aml, byteIndex: Arg, fieldName: string): Aml {
  return op(0x8a, buf, term(byteIndex), nameString(fieldName));
}
export function createQWordField(buf: Aml, byteIndex: Arg, fieldName: string): Aml {
  return op(0x8f, buf, term(byteIndex), nameString(fieldName));
}
export function createField(buf: Aml, bitIndex: Arg, numBits: Arg, fieldName: string): Aml {
  return op([EXT, 0x13], buf, term(bitIndex), term(numBits), nameString(fieldName));
}

// ---- Operation regions and fields -------------------------------------------

export const RegionSpace = { SystemMemory: 0, SystemIO: 1, PciConfig: 2 } as const;
export type RegionSpace = (typeof RegionSpace)[keyof typeof RegionSpace];

export function opRegion(path: string, space: RegionSpace, offset: Arg, length: Arg): Aml {
  return op([EXT, 0x80], nameString(path), u8s(space), term(offset), term(length));
}

export const FieldAccess = { Any: 0, Byte: 1, Word: 2, DWord: 3, QWord: 4, Buffer: 5 } as const;
export type FieldAccess = (typeof FieldAccess)[keyof typeof FieldAccess];
export const FieldUpdate = { Preserve: 0, WriteAsOnes: 1, WriteAsZeros: 2 } as const;
export type FieldUpdate = (typeof FieldUpdate)[keyof typeof FieldUpdate];

export interface FieldOptions {
  access: FieldAccess;
  lock?: boolean; // LockRule: Lock
  update?: FieldUpdate;
}

/** Field list entry: a named field of `bits`, unnamed `reserved` bits, or an ASL-style byte `offset`. */
export type FieldEntry = { name: string; bits: number } | { reserved: number } | { offset: number };

export function field(region: string, opts: FieldOptions, ...entries: FieldEntry[]): Aml {
  const flags = opts.access | (opts.lock ? 0x10 : 0) | ((opts.update ?? FieldUpdate.Preserve) << 5);
  const parts: Aml[] = [nameString(region), u8s(flags)];
  let bitPos = 0;
  for (const e of entries) {
    if ('name' in e) {
      parts.push(nameSeg(e.name), pkgLength(e.bits));
      bitPos += e.bits;
    } else {
      const bits = 'reserved' in e ? e.reserved : e.offset * 8 - bitPos;
      if (bits < 0) throw new RangeError(`Field offset ${'offset' in e ? e.offset : ''} goes backwards`);
      if (bits > 0) parts.push(u8s(0x00), pkgLength(bits)); // ReservedField
      bitPos += bits;
    }
  }
  return op([EXT, 0x81], withPkgLength(concat(...parts)));
}

// ---- Resource templates --------------------------------------------------------

/**
 * ResourceTemplate: a Buffer of descriptors closed by an End Tag. Like iasl we
 * store checksum 0 in the End Tag, which the spec defines as "treat as valid";
 * pass `checksum: true` to store a real one (byte sum of the template = 0).
 */
export function resourceTemplate(descriptors: readonly Aml[], opts: { checksum?: boolean } = {}): Aml {
  return buffer(concat(...descriptors, endTag(opts.checksum ? concat(...descriptors) : undefined)));
}
