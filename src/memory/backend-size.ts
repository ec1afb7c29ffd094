/**
 * Sizes as people read and type them. Messages show both a human size and
 * QEMU's hex so a user can match them against QEMU's own wording; fixes are
 * suggested in QEMU's option syntax (K/M/G/T are binary there).
 */

const UNITS: [string, string, bigint][] = [
  ['TiB', 'T', 1n << 40n], ['GiB', 'G', 1n << 30n], ['MiB', 'M', 1n << 20n], ['KiB', 'K', 1n << 10n],
];

/** "4 MiB", "1.5 GiB", "4097 bytes": the largest unit that shows the size exactly (≤ 3 decimals). */
export function humanSize(n: bigint | number): string {
  const b = BigInt(n);
  for (const [unit, , mult] of UNITS) {
    if (b < mult) continue;
    // Exact with at most three decimals, else try a smaller unit.
    if ((b * 1000n) % mult === 0n) {
      const whole = b / mult, frac = ((b % mult) * 1000n) / mult;
      const dec = frac === 0n ? '' : '.' + frac.toString().padStart(3, '0').replace(/0+$/, '');
      return `${whole}${dec} ${unit}`;
    }
  }
  return b === 1n ? '1 byte' : `${b} bytes`;
}

/** The value to type after size= (e.g. "4M", "1536M", "4097"). */
export function sizeOption(n: bigint | number): string {
  const b = BigInt(n);
  for (const [, suffix, mult] of UNITS) if (b >= mult && b % mult === 0n) return `${b / mult}${suffix}`;
  return b.toString();
}

/** "4 MiB (0x400000)". */
export function sizeWithHex(n: bigint | number): string {
  return `${humanSize(n)} (0x${BigInt(n).toString(16)})`;
}

export function isPowerOfTwo(n: bigint): boolean { return n > 0n && (n & (n - 1n)) === 0n; }
