/**
 * A 64-bit value from its two unsigned 32-bit halves, as a Number (exact below 2^53). pmemvm's
 * code runs without TurboFan (bin/pmemvm.cjs), where `lo + hi * 2^32` is a new heap
 * number even when hi is 0, and every sum made from it another: below 4 GiB, lo comes back
 * as it is (a small integer when below 2 GiB).
 */
export function fromHalves(lo: number, hi: number): number {
  return hi === 0 ? lo : lo + hi * 2 ** 32;
}
