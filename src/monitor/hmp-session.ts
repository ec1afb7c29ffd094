/**
 * One HMP connection on a socket: QEMU's own line editor (util/readline.c), because QEMU
 * edits the line itself and echoes it, redrawing after every key (ESC [ D to go back,
 * the whole line, ESC [ K). Clients that script HMP see the same bytes from pmemvm.
 * Enter is CR or LF (each one: "\r\n" gives an empty second line, as in QEMU); lines
 * hold at most 4095 bytes, like QEMU's, and further bytes are dropped. Supported keys:
 * printable bytes, backspace/DEL, Ctrl-A/E/D/W, arrows (history, 64 lines), Home/End/Delete.
 * Tab completion is not implemented (a deliberate difference: Tab is ignored).
 */
import { HMP_BANNER, HMP_PROMPT, crlf, runHmpLine } from './hmp.js';
import type { MachineControl } from './machine-control.js';

const MAX_LINE = 4095;
const MAX_HISTORY = 64;

export interface HmpSessionOptions {
  machine: MachineControl;
  write(data: Buffer): void;
  /** Called when the session can take input again after a slow command. */
  onReady?(): void;
}

const enum Esc { Norm, Esc, Csi, Ss3 }

export class HmpSession {
  private buf: number[] = [];
  private index = 0;
  /** The line has changed since it was last drawn (QEMU compares with a copy; a flag is cheaper). */
  private dirty = false;
  private lastIndex = 0;
  private esc = Esc.Norm;
  private escParam = 0;
  private readonly history: string[] = [];
  private histEntry = -1;
  /** Input that arrived while a command was running. */
  private pending: Buffer | undefined;
  private runningCommand = false;
  private closed = false;

  constructor(private readonly opts: HmpSessionOptions) {}

  /** Banner and first prompt, sent on connect. */
  greeting(): Buffer {
    return Buffer.from(crlf(HMP_BANNER) + HMP_PROMPT);
  }

  /** True while a command runs; input is held (bounded by one chunk) until it ends. */
  get busy(): boolean {
    return this.runningCommand;
  }

  close(): void {
    this.closed = true;
    this.pending = undefined;
  }

  feed(data: Uint8Array): void {
    if (this.closed) return;
    if (this.runningCommand) {
      // The server stops reading while busy, so this holds at most one chunk.
      this.pending = this.pending ? Buffer.concat([this.pending, data]) : Buffer.from(data);
      return;
    }
    let out: number[] = [];
    for (let i = 0; i < data.length; i++) {
      const line = this.key(data[i]!, out);
      if (line === undefined) {
        if (out.length >= 1 << 16) { this.flush(out); out = []; } // a long line's redraws add up
        continue;
      }
      this.flush(out);
      out = [];
      const result = runHmpLine(line, { machine: this.opts.machine });
      if (result instanceof Promise) {
        this.runningCommand = true;
        const rest = Buffer.from(data.subarray(i + 1));
        void result.then((text) => {
          this.runningCommand = false;
          if (this.closed) return;
          this.opts.write(Buffer.from(text + HMP_PROMPT));
          const more = this.pending ? Buffer.concat([rest, this.pending]) : rest;
          this.pending = undefined;
          if (more.length) this.feed(more);
          if (!this.runningCommand) this.opts.onReady?.();
        });
        return;
      }
      // After quit QEMU is gone before it could prompt again.
      this.opts.write(Buffer.from(/^[ \t]*(quit|q)[ \t]*$/.test(line) ? result : result + HMP_PROMPT));
    }
    this.flush(out);
  }

  private flush(out: number[]): void {
    if (out.length) this.opts.write(Buffer.from(out));
  }

  /** readline_handle_byte(): edits the line; returns it when Enter completes it. */
  private key(ch: number, out: number[]): string | undefined {
    switch (this.esc) {
      case Esc.Norm:
        switch (ch) {
          case 1: this.index = 0; break;
          case 4: this.deleteChar(); break;
          case 5: this.index = this.buf.length; break;
          case 9: break; // completion: not implemented
          case 10:
          case 13: return this.enter(out);
          case 23: this.backWord(); break;
          case 27: this.esc = Esc.Esc; return undefined;
          case 8:
          case 127: if (this.index > 0) { this.index--; this.deleteChar(); } break;
          case 155: this.esc = Esc.Csi; this.escParam = 0; return undefined;
          default:
            if (ch >= 32 && this.buf.length < MAX_LINE) {
              if (this.index === this.buf.length) this.buf.push(ch); else this.buf.splice(this.index, 0, ch);
              this.index++;
              this.dirty = true;
            }
        }
        break;
      case Esc.Esc:
        if (ch === 0x5b) { this.esc = Esc.Csi; this.escParam = 0; } else if (ch === 0x4f) { this.esc = Esc.Ss3; this.escParam = 0; } else this.esc = Esc.Norm;
        return undefined;
      case Esc.Csi:
        if (ch >= 0x30 && ch <= 0x39) { this.escParam = this.escParam * 10 + ch - 0x30; return undefined; }
        switch (ch) {
          case 0x41: case 0x46: this.historyStep(-1); break; // A, F
          case 0x42: case 0x45: this.historyStep(1); break; // B, E
          case 0x44: if (this.index > 0) this.index--; break;
          case 0x43: if (this.index < this.buf.length) this.index++; break;
          case 0x7e:
            if (this.escParam === 1) this.index = 0;
            else if (this.escParam === 3) this.deleteChar();
            else if (this.escParam === 4) this.index = this.buf.length;
            break;
        }
        this.esc = Esc.Norm;
        break;
      case Esc.Ss3:
        if (ch === 0x46) this.index = this.buf.length;
        else if (ch === 0x48) this.index = 0;
        this.esc = Esc.Norm;
        break;
    }
    this.redraw(out);
    return undefined;
  }

  private deleteChar(): void {
    if (this.index < this.buf.length) { this.buf.splice(this.index, 1); this.dirty = true; }
  }

  private backWord(): void {
    let start = this.index - 1;
    while (start >= 0 && this.buf[start] === 0x20) start--;
    while (start >= 0 && this.buf[start] !== 0x20) start--;
    start++;
    if (start < this.index) this.dirty = true;
    this.buf.splice(start, this.index - start);
    this.index = start;
  }

  private historyStep(dir: -1 | 1): void {
    if (dir < 0) {
      if (this.histEntry === 0) return;
      this.histEntry = this.histEntry === -1 ? this.history.length - 1 : this.histEntry - 1;
    } else {
      if (this.histEntry === -1) return;
      this.histEntry = this.histEntry < this.history.length - 1 ? this.histEntry + 1 : -1;
    }
    const next = this.histEntry < 0 ? [] : [...Buffer.from(this.history[this.histEntry]!, 'latin1')];
    if (next.length !== this.buf.length || next.some((b, i) => b !== this.buf[i])) this.dirty = true;
    this.buf = next;
    this.index = this.buf.length;
  }

  /** readline_update(): what QEMU sends after each key. */
  private redraw(out: number[]): void {
    if (this.dirty) {
      for (let i = 0; i < this.lastIndex; i++) out.push(0x1b, 0x5b, 0x44);
      for (const b of this.buf) out.push(b);
      out.push(0x1b, 0x5b, 0x4b);
      this.dirty = false;
      this.lastIndex = this.buf.length;
    }
    if (this.index !== this.lastIndex) {
      const code = this.index > this.lastIndex ? 0x43 : 0x44;
      for (let i = Math.abs(this.index - this.lastIndex); i > 0; i--) out.push(0x1b, 0x5b, code);
      this.lastIndex = this.index;
    }
  }

  private enter(out: number[]): string {
    const raw = Buffer.from(this.buf);
    const text = raw.toString('latin1');
    if (text !== '') {
      const at = this.history.indexOf(text);
      if (at >= 0) this.history.splice(at, 1);
      this.history.push(text);
      if (this.history.length > MAX_HISTORY) this.history.shift();
    }
    this.histEntry = -1;
    this.buf = [];
    this.index = 0;
    this.dirty = false;
    this.lastIndex = 0;
    out.push(0x0d, 0x0a);
    return raw.toString('utf8');
  }
}
