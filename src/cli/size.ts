/**
 * QEMU size syntax (util/cutils.c do_strtosz, QEMU 7.2), returned as bigint
 * because sizes may reach 2^64 - 1, far past Number's 2^53.
 *
 *   DIGITS[.DIGITS][SUFFIX]   suffix B K M G T P E, any case, powers of 1024
 *   0xHEX                     no fraction, no suffix (QEMU 7.2 only warns
 *                             about a suffix on hex; QEMU 8 rejects it, so do we)
 *
 * A fraction needs a suffix other than B ("1.5" alone is not a byte count),
 * exponents ("1e3") are rejected, the result must stay below 2^64.
 * Fractions are rounded half up, exactly (QEMU goes through a double).
 */
import { UserError } from '../errors.js';

export const KiB = 1n << 10n;
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;

const SUFFIXES = 'BKMGTPE';
const LIMIT = 1n << 64n;

/** What a user should type; ends every invalid-size message. */
export const SIZE_HINT = 'use a number with an optional K, M, G or T suffix, e.g. 512M';

export type SizeResult =
  | { ok: true; value: bigint }
  | { ok: false; reason: 'invalid' | 'overflow' };

function multiplier(suffix: string): bigint {
  return 1n << (10n * BigInt(SUFFIXES.indexOf(suffix.toUpperCase())));
}

/** Parses a size without throwing; `defaultSuffix` applies when none is written. */
export function tryParseSize(text: string, defaultSuffix = 'B'): SizeResult {
  const hex = /^0[xX]([0-9a-fA-F]+)$/.exec(text);
  if (hex) {
    const value = BigInt('0x' + hex[1]) * multiplier(defaultSuffix);
    return value < LIMIT ? { ok: true, value } : { ok: false, reason: 'overflow' };
  }
  const m = /^(\d+)(?:\.(\d*))?([bkmgtpeBKMGTPE])?$/.exec(text);
  if (!m) return { ok: false, reason: 'invalid' };
  const [, whole, frac = '', suffix = defaultSuffix] = m;
  const mul = multiplier(suffix);
  let value = BigInt(whole) * mul;
  if (/[1-9]/.test(frac)) {
    if (mul === 1n) return { ok: false, reason: 'invalid' }; // fraction of a byte
    const scale = 10n ** BigInt(frac.length);
    value += (BigInt(frac) * mul * 2n + scale) / (2n * scale);
  }
  return value < LIMIT ? { ok: true, value } : { ok: false, reason: 'overflow' };
}

/**
 * Parses a size or throws `<context>: invalid size (...)`.
 * `context` names what was being parsed, e.g. "-m 12X" or "-object ...: property 'size'".
 */
export function parseSize(text: string, context: string, defaultSuffix = 'B'): bigint {
  const r = tryParseSize(text, defaultSuffix);
  if (r.ok) return r.value;
  if (r.reason === 'overflow') {
    throw new UserError(`${context}: size too large (the limit is 16E minus one byte)`);
  }
  if (/^0[xX][0-9a-fA-F]*[.kmgtpeKMGTPE]/.test(text)) {
    throw new UserError(`${context}: invalid size (a hex size takes no fraction or suffix; write it in bytes, e.g. 0x40000000, or in decimal, e.g. 1G)`);
  }
  if (/^\d+\.\d*[1-9]\d*[bB]?$/.test(text)) {
    throw new UserError(`${context}: invalid size (a fraction needs a K, M, G or T suffix, e.g. 1.5G)`);
  }
  throw new UserError(`${context}: invalid size (${SIZE_HINT})`);
}

/**
 * Converts a size to a number, or throws if it exceeds 2^53 - 1 bytes
 * (8 PiB, far more than any host can map, so this is the user's mistake).
 */
export function sizeToNumber(size: bigint, what: string): number {
  if (size < 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(`${what}: size ${formatSize(size)} is too large (pmemvm handles sizes below 8P)`);
  }
  return Number(size);
}

/** Shortest exact QEMU spelling, never ambiguous: 1G, 1536M, 4097B. */
export function formatSize(size: bigint): string {
  for (let i = SUFFIXES.length - 1; i > 0; i--) {
    const mul = 1n << (10n * BigInt(i));
    if (size !== 0n && size % mul === 0n) return `${size / mul}${SUFFIXES[i]}`;
  }
  return `${size}B`;
}
