/**
 * Where the guest's serial console goes: stdio (raw terminal input, Ctrl-A x
 * to quit as with QEMU's -nographic), a file, or nowhere. Output is batched
 * per event-loop turn: a boot prints thousands of single bytes.
 */
import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { UserError } from '../errors.js';

export type ConsoleSpec = { kind: 'stdio'; muxEscape: boolean } | { kind: 'file'; path: string } | { kind: 'null' };

export interface GuestConsole {
  /** Bytes from the guest. */
  write(byte: number): void;
  /**
   * Start delivering host input to `sink` (it returns how many bytes it took) and breaks
   * to `breakSink` (false: no room now), in the order they came.
   */
  attachInput(sink: (bytes: Uint8Array) => number, breakSink: () => boolean): void;
  /** A break after the input held so far (chardev-send-break; Ctrl-A b on stdio). */
  sendBreak(): void;
  /** Offer held-back input again (the guest drained its FIFO). */
  pump(): void;
  onQuit: () => void;
  /**
   * -nographic / -serial mon:stdio: the human monitor shares stdio. Ctrl-A c moves
   * the keyboard between the guest and `input` (the monitor), as in QEMU; `focus`
   * hears which one has it. Guest output keeps flowing either way.
   */
  attachMonitor(input: (bytes: Buffer) => void, focus: (monitor: boolean) => void): void;
  close(): void;
}

/** QEMU's mux keys (Ctrl-A h), in its order; pmemvm has no disk snapshot or timestamps. */
const MUX_HELP = 'C-a h    print this help\r\nC-a x    exit emulator\r\nC-a b    send break (magic sysrq)\r\n' +
  'C-a c    switch between console and monitor\r\nC-a C-a  sends C-a\r\n';

const CTRL_A = 0x01;

export function openConsole(spec: ConsoleSpec): GuestConsole {
  let out: number;
  if (spec.kind === 'file') {
    try { out = openSync(spec.path, 'w'); } catch (e) {
      throw new UserError(`-serial file:${spec.path}: cannot open: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  } else {
    out = spec.kind === 'stdio' ? 1 : -1;
  }
  const pending: number[] = [];
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (out < 0 || pending.length === 0) { pending.length = 0; return; }
    const buf = Buffer.from(pending);
    pending.length = 0;
    for (let off = 0; off < buf.length;) {
      try { off += writeSync(out, buf, off); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        return; // reader went away: drop output, keep the guest running
      }
    }
  };

  let held = Buffer.alloc(0);
  /** Where in `held` a break comes (before the byte at that offset), in order. */
  let breaks: number[] = [];
  let sink: ((b: Uint8Array) => number) | null = null;
  let breakSink: (() => boolean) | null = null;
  // Breaks with no byte between them are one break, as on a line: a monitor client that
  // sends them faster than the guest reads its FIFO cannot make this list grow.
  const addBreak = (at: number) => { if (breaks.at(-1) !== at) breaks.push(at); };
  let monitor: { input: (b: Buffer) => void; focus: (on: boolean) => void } | null = null;
  let monitorFocus = false;
  let sawCtrlA = false;
  let listening = false;
  /**
   * stdin, once hooked up (not /dev/null). process.stdin is made at its first use, and for a
   * file or /dev/null that loads eight of Node's modules (fs streams and promises, readline).
   */
  let stdin: NodeJS.ReadStream | null = null;
  const con: GuestConsole = {
    onQuit: () => {},
    write(byte) {
      pending.push(byte);
      if (pending.length >= 4096) flush();
      else if (!flushScheduled) { flushScheduled = true; setImmediate(flush); }
    },
    attachInput(s, b) {
      sink = s; // a rebooted machine brings a new UART; stdin stays hooked up
      breakSink = b;
      if (spec.kind !== 'stdio' || listening) return;
      listening = true;
      // Nothing ever comes from /dev/null (a service's stdin), and Node would read it through
      // libuv's thread pool, starting its threads for good: not read at all.
      if (stdinIsDevNull()) return;
      const input = stdin = process.stdin;
      if (input.isTTY) input.setRawMode(true);
      input.on('data', (chunk: Buffer) => {
        const keep: number[] = [];
        const toMonitor: number[] = [];
        const deliver = () => {
          if (toMonitor.length) { monitor?.input(Buffer.from(toMonitor)); toMonitor.length = 0; }
        };
        for (const b of chunk) {
          if (spec.muxEscape && sawCtrlA) {
            sawCtrlA = false;
            if (b === 0x78 /* x */) { con.onQuit(); return; }
            if (b === 0x68 /* h */) { writeSync(1, MUX_HELP); continue; }
            if (b === 0x62 /* b */) { if (!monitorFocus) addBreak(held.length + keep.length); continue; }
            if (b === 0x63 /* c */ && monitor) {
              deliver();
              monitorFocus = !monitorFocus;
              monitor.focus(monitorFocus);
              continue;
            }
            if (b !== CTRL_A) continue; // Ctrl-A Ctrl-A sends one Ctrl-A
          } else if (spec.muxEscape && b === CTRL_A) { sawCtrlA = true; continue; }
          (monitorFocus ? toMonitor : keep).push(b);
        }
        deliver();
        held = Buffer.concat([held, Buffer.from(keep)]);
        con.pump();
        if (held.length > 1 << 16) input.pause(); // backpressure: the guest is not reading
      });
      input.on('error', () => {});
      input.resume();
    },
    attachMonitor(input, focus) {
      monitor = { input, focus };
    },
    sendBreak() {
      addBreak(held.length);
      con.pump();
    },
    pump() {
      if (!sink) return;
      for (;;) {
        const upTo = breaks.length ? breaks[0]! : held.length;
        if (upTo > 0) {
          const n = sink(held.subarray(0, upTo));
          held = held.subarray(n);
          breaks = breaks.map((o) => o - n);
          if (n < upTo) break;
        }
        if (!breaks.length || !breakSink?.()) break;
        breaks.shift();
      }
      if (stdin && held.length < 1 << 15 && stdin.isPaused()) stdin.resume();
    },
    close() {
      flush();
      if (stdin) {
        if (stdin.isTTY) stdin.setRawMode(false);
        stdin.pause();
        stdin.removeAllListeners('data');
        stdin.unref?.();
      }
      if (spec.kind === 'file') closeSync(out);
    },
  };
  return con;
}

/** Standard input is /dev/null (the same character device). */
function stdinIsDevNull(): boolean {
  try {
    const fd0 = fstatSync(0), devNull = statSync('/dev/null');
    return fd0.isCharacterDevice() && fd0.rdev === devNull.rdev;
  } catch {
    return false; // no stdin at all, or no /dev/null: read as before
  }
}
