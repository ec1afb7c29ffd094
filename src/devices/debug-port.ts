/**
 * POST code port 0x80. Firmware writes progress codes here and Linux writes
 * to it as an I/O delay (io_delay=0x80, the default), so it must be cheap
 * and quiet. Reads return the last code, as on POST cards.
 */

import type { AccessSize, BusDevice } from './bus.js';

export const POST_CODE_PORT = 0x80;

export interface PostCodeOptions {
  /** Every code written; leave unset in normal runs (Linux writes a lot of them). */
  onCode?: (code: number) => void;
}

export class PostCodePort implements BusDevice {
  readonly width = 1;
  private last = 0;
  private writes = 0;
  private readonly onCode: ((code: number) => void) | undefined;

  constructor(opts: PostCodeOptions = {}) {
    this.onCode = opts.onCode;
  }

  get lastCode(): number {
    return this.last;
  }

  get writeCount(): number {
    return this.writes;
  }

  read(_offset: number, _size: AccessSize): number {
    return this.last;
  }

  write(_offset: number, _size: AccessSize, value: number): void {
    this.last = value & 0xff;
    this.writes++;
    this.onCode?.(this.last);
  }
}
