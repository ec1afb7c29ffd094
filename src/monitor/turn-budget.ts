/**
 * Main-thread time for monitor input, per event-loop turn, shared by every client of
 * every monitor. vCPU 0 runs on this thread and the other vCPUs wait on it for their
 * I/O, so input beyond the budget waits for the next turn, after vCPU 0's next slice
 * (already queued as an immediate): a client that floods its socket then gets about
 * half of the thread, never all of it.
 */
import { monotonicMs } from '../clock.js';

/**
 * The budget: a guest's timer tick at HZ=250 (Debian's). A 1 KiB slice of dense JSON costs
 * 0.2-0.45 ms natively, tens of times that in the emulated test host.
 */
export const TURN_MS = 4;

let deadline = 0;
let open = false;

/** When this turn's budget ends (monotonicMs() time); the first call in a turn starts it. */
export function turnDeadline(): number {
  if (!open) {
    open = true;
    deadline = monotonicMs() + TURN_MS;
    setImmediate(() => { open = false; });
  }
  return deadline;
}
