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
