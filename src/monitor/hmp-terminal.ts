/**
 * HMP on a terminal (-monitor stdio, or the console's Ctrl-A c): line editing and history
 * come from node:readline. The caller owns the streams: to switch between the guest's
 * console and the monitor, feed the monitor's input through a PassThrough and call
 * detach() / attach() as Ctrl-A c toggles (detach leaves the streams open).
 */
import type readline from 'node:readline';
import { readlineModule } from '../lazy-builtins.js';
import type { Readable, Writable } from 'node:stream';
import { HMP_BANNER, HMP_PROMPT, crlf, runHmpLine } from './hmp.js';
import type { MachineControl } from './machine-control.js';

export interface HmpTerminal {
  /** Starts (or restarts) reading lines; prints the banner the first time, then the prompt. */
  attach(): void;
  /** Stops reading; a command already running still finishes. */
  detach(): void;
}

export function createHmpTerminal(input: Readable, output: Writable, machine: MachineControl, opts: { terminal?: boolean } = {}): HmpTerminal {
  let rl: readline.Interface | undefined;
  let bannerShown = false;
  const history: string[] = [];
  let busy = false;

  const attach = () => {
    if (rl) return;
    const terminal = opts.terminal ?? Boolean((output as { isTTY?: boolean }).isTTY);
    rl = readlineModule().createInterface({ input, output, prompt: HMP_PROMPT, terminal, history: [...history], historySize: 64 });
    if (!bannerShown) {
      output.write(crlf(HMP_BANNER));
      bannerShown = true;
    }
    const me = rl;
    me.on('line', (line) => {
      if (line.trim() !== '') { history.unshift(line); history.length = Math.min(history.length, 64); }
      busy = true;
      me.pause();
      const done = (text: string) => {
        busy = false;
        output.write(text);
        if (rl === me) { me.resume(); me.prompt(); }
      };
      const r = runHmpLine(line, { machine });
      if (r instanceof Promise) void r.then(done); else done(r);
    });
    me.prompt();
  };

  const detach = () => {
    if (!rl) return;
    const me = rl;
    rl = undefined;
    me.close();
    if (!busy) input.pause();
  };

  return { attach, detach };
}
