/**
 * vCPU 0 shares the main thread with the monitors. Main-thread work that stopped at its
 * turn's budget (monitor input, input-pump.ts) and waits for the next event-loop turn asks
 * for a short next slice: vCPU 0 then leaves the guest after that many ms (as long as the
 * work took) instead of at its slice timer (Vcpus.SLICE_MS, 50 ms). Without it, a long input
 * got 4 ms of every 54 while the guest idled in KVM_RUN: a 10 MB QMP line took 80 s in the
 * test host.
 */
let wanted = 0;

/** The next slice of vCPU 0 lasts at most `ms`. */
export function shortenNextSlice(ms: number): void {
  wanted = wanted === 0 ? ms : Math.min(wanted, ms);
}

/** The length asked for the next slice (0: a whole slice), and forget it. */
export function takeShortSlice(): number {
  const ms = wanted;
  wanted = 0;
  return ms;
}

/**
 * The main thread's work between two slices of vCPU 0 past which the next slice is the
 * guest's own: monitor input cannot end it early (worker vCPUs' requests still do).
 */
export const FAIR_MS = 10;

/** How vCPU 0's next slice runs: at most `ms` long, and whether monitor input may end it before. */
export interface SlicePlan { ms: number; input: boolean }

/**
 * The next slice, given the whole slice, a short slice asked for (0: none) and how long the
 * main thread just worked for others. A client flooding the monitor kept a kick pending at
 * every slice's start, and the guest, which gets the thread only inside KVM_RUN, printed 2
 * lines in 3 s: after `FAIR_MS` or more of other work, the guest gets as long (up to a
 * whole slice) before input counts again, about half the thread.
 */
export function planSlice(sliceMs: number, shortMs: number, hostMs: number): SlicePlan {
  const ms = shortMs > 0 ? Math.min(shortMs, sliceMs) : sliceMs;
  if (hostMs < FAIR_MS) return { ms, input: true };
  return { ms: Math.min(ms, hostMs), input: false };
}
