/**
 * Feeds one monitor session its input, on the main thread that vCPU 0 shares, in slices:
 * - bounded memory: reading pauses while the session is busy (a command in flight and
 *   requests queued behind it) or its client has more than HIGH_WATER bytes of replies
 *   unread, and goes on when the session is ready or the output drains;
 * - bounded time: once this event-loop turn's budget for monitor input is spent
 *   (turn-budget.ts), the rest waits for the next turn, after the immediates already
 *   queued: vCPU 0's next slice, which also serves the other vCPUs' I/O, and which then
 *   lasts as long as the input took (kvm/slice-share.ts), so long input gets about half the thread.
 */
import { TURN_MS, turnDeadline } from './turn-budget.js';
import { shortenNextSlice } from '../kvm/slice-share.js';
import { monotonicMs } from '../clock.js';

export const HIGH_WATER = 1 << 20;
/** Input bytes handed to a session at once: a QMP byte yields at most ~100 reply bytes, an HMP byte ~16 KiB of echo. */
export const SLICE_BYTES = { qmp: 1024, hmp: 64 } as const;

/** Where the input comes from: a socket or stdin. */
export interface PumpInput {
  readonly destroyed: boolean;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
}

export interface PumpSession {
  readonly busy: boolean;
  feed(data: Uint8Array): void;
}

export class InputPump {
  /** Input read but not fed yet, kept in order; bounded, as reading is paused meanwhile. */
  private stash: Buffer | undefined;
  private pumping = false;
  private closed = false;
  private nextTurn: NodeJS.Immediate | undefined;

  /** `lagging`: the client has too many replies unread. */
  constructor(private readonly input: PumpInput, private readonly session: PumpSession,
              private readonly sliceBytes: number, private readonly lagging: () => boolean) {}

  /** New input (a 'data' event). */
  push(data: Buffer): void {
    if (this.stash) { this.stash = Buffer.concat([this.stash, data]); return; }
    const step = this.sliceBytes;
    const until = turnDeadline();
    this.pumping = true;
    try {
      for (let off = 0; off < data.length; off += step) {
        if (this.closed || this.input.destroyed) return;
        const late = off > 0 && monotonicMs() > until;
        if (this.session.busy || this.lagging() || late) {
          this.stash = data.subarray(off);
          this.input.pause();
          if (late) this.waitForNextTurn(until);
          return;
        }
        this.session.feed(data.subarray(off, off + step));
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Input may flow again: the output drained, the session is ready, or a new turn began. */
  readonly resume = (): void => {
    this.nextTurn = undefined;
    // While push() runs, it decides itself.
    if (this.closed || this.pumping) return;
    if (this.stash) {
      const s = this.stash;
      this.stash = undefined;
      this.push(s);
    }
    if (!this.stash && this.input.isPaused()) this.input.resume();
  };

  private waitForNextTurn(until: number): void {
    this.nextTurn ??= setImmediate(this.resume);
    // The guest's next slice lasts as long as input took this turn (at least a budget; one
    // slice of input can take longer in the test host), not a whole slice.
    shortenNextSlice(Math.max(TURN_MS, monotonicMs() - (until - TURN_MS)));
  }

  /** The client is gone: drop what waits. */
  close(): void {
    this.closed = true;
    this.stash = undefined;
    if (this.nextTurn) clearImmediate(this.nextTurn);
    this.nextTurn = undefined;
  }
}
