/**
 * A monotonic clock in milliseconds for pmemvm's own time sharing (vCPU 0's slices, the
 * monitors' turn budget). Not `performance.now()`: its first use loads node:perf_hooks,
 * about 0.1-0.3 s of a start in the test host, on the way to the guest's first instruction.
 * Only differences mean anything.
 */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** Wall-clock time at the clock's origin, in ms (Date.now()'s resolution), as performance.timeOrigin. */
const wallOrigin = Date.now() - monotonicMs();

/** Wall-clock time in microseconds: the origin's, moved on by the monotonic clock (as performance.timeOrigin + now()). */
export function wallClockUs(): number {
  return Math.floor((wallOrigin + monotonicMs()) * 1000);
}
