// Little-endian byte helpers shared by the AML encoder and the table builders.

/**
 * Concatenate byte arrays into one. (Indexed loops: the tables are built at every start, in
 * V8's interpreter, where for-of's iterator calls were a third of the AML encoder's time.)
 */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (let i = 0; i < parts.length; i++) len += parts[i]!.length;
  const out = new Uint8Array(len);
  for (let i = 0, off = 0; i < parts.length; i++) {
    const p = parts[i]!;
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Value that makes the byte sum of `bytes` (with the checksum byte counted as 0) zero mod 256. */
export function checksum8(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i]!) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** Byte sum mod 256; a valid ACPI table sums to 0. */
export function sum8(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

function checkUint(value: number | bigint, bits: number, what: string): bigint {
  const v = BigInt(value);
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`${what}: ${value} is not a safe integer (use a bigint)`);
  }
  if (v < 0n || v >= 1n << BigInt(bits)) {
    throw new RangeError(`${what}: ${value} does not fit in ${bits} bits`);
  }
  return v;
}

/** Encode an unsigned little-endian integer of `size` bytes. */
export function le(value: number | bigint, size: 1 | 2 | 4 | 8): Uint8Array {
  // Most fields are numbers that fit in 32 bits: no BigInt for them.
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** Math.min(size * 8, 32)) {
    const out = new Uint8Array(size);
    for (let i = 0; i < Math.min(size, 4); i++) out[i] = (value >>> (8 * i)) & 0xff;
    return out;
  }
  let v = checkUint(value, size * 8, `le${size * 8}`);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Fixed-width ASCII field, NUL/space-padded as ACPI header fields are. */
export function ascii(text: string, size: number, pad = 0x20): Uint8Array {
  if (text.length > size || !/^[\x20-\x7e]*$/.test(text)) {
    throw new RangeError(`ascii field "${text}" must be printable and at most ${size} chars`);
  }
  const out = new Uint8Array(size).fill(pad);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Sequential little-endian writer for fixed-layout structures. */
export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  get offset(): number {
    return this.pos;
  }

  u8(v: number): this {
    this.buf.set(le(v, 1), this.pos);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.buf.set(le(v, 2), this.pos);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.buf.set(le(v, 4), this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.buf.set(le(v, 8), this.pos);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  zeros(n: number): this {
    this.pos += n;
    return this;
  }

  /** The finished buffer; throws if the layout did not fill it exactly. */
  done(): Uint8Array {
    if (this.pos !== this.buf.length) {
      throw new Error(`ByteWriter: wrote ${this.pos} of ${this.buf.length} bytes`);
    }
    return this.buf;
  }
}
