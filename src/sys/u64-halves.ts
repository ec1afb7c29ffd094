/**
 * 64-bit values (guest and host addresses) as two 32-bit halves. pmemvm's code runs without
 * TurboFan (bin/pmemvm.cjs), where any number outside the 32-bit signed range is a new heap
 * object at every step that makes it, and garbage on the flush path means scavenges inside the
 * guest's flushes. Halves kept as signed 32-bit integers (what getInt32 returns and setInt32
 * takes: the same bits) are small integers, however large the address they make up.
 */

/**
 * A 64-bit value from its two unsigned 32-bit halves, as a Number (exact below 2^53): below
 * 4 GiB, lo comes back as it is (a small integer when below 2 GiB), where `lo + hi * 2^32`
 * would be a new heap number even when hi is 0.
 */
export function fromHalves(lo: number, hi: number): number {
  return hi === 0 ? lo : lo + hi * 2 ** 32;
}

/** The low half flipped at its top bit: unsigned order in the signed range, so halves compare as small integers. */
export const biased = (lo: number): number => lo ^ -0x8000_0000;

/** `v` (0 ≤ v < 2^53) as signed halves in out[at] (low) and out[at + 1] (high). Allocates where v ≥ 2^31: for set-up, not per request. */
export function toHalves(v: number, out: Int32Array, at: number): void {
  out[at] = v % 2 ** 32 | 0;
  out[at + 1] = Math.floor(v / 2 ** 32) | 0;
}

/**
 * The halves of (hi, lo) + off into out[at], out[at + 1], for 0 ≤ off < 2^31, with no heap
 * number made on the way (every intermediate stays in the signed 32-bit range): the carry out
 * of the low half is found by comparing before adding.
 */
export function addToHalves(lo: number, hi: number, off: number, out: Int32Array, at: number): void {
  const b = biased(lo); // loU - 2^31
  if (b > 0x7fff_ffff - off) { // loU + off ≥ 2^32: the low half wraps to loU + off - 2^32, below off
    out[at] = b - 0x7fff_ffff + off - 1;
    out[at + 1] = hi + 1;
  } else {
    out[at] = biased(b + off);
    out[at + 1] = hi;
  }
}
