// An HMP client for guest tests: QEMU's human monitor over a unix socket, one command
// line at a time (works against pmemvm and QEMU alike).
import { connect } from 'node:net';

/** One HMP session over a unix socket: send a line, read until the next prompt. */
export async function hmpSession(path: string) {
  const sock = connect(path);
  let buf = '';
  const waiters: (() => void)[] = [];
  sock.setEncoding('utf8').on('data', (d: string) => { buf += d; waiters.splice(0).forEach((w) => w()); });
  let closed = false;
  sock.on('close', () => { closed = true; waiters.splice(0).forEach((w) => w()); }).on('error', () => {});
  const untilPrompt = async (what: string, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = buf.indexOf('(qemu) ');
      if (i >= 0) { const text = buf.slice(0, i); buf = buf.slice(i + 7); return text; }
      if (closed) throw new Error(`HMP: the monitor closed the connection waiting for ${what}; got ${JSON.stringify(buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`HMP: no prompt within ${timeoutMs} ms after ${what}; got ${JSON.stringify(buf)}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, left); });
    }
  };
  const banner = await untilPrompt('the banner');
  return {
    banner,
    /** The reply to one command line, without the echo of the line itself. */
    async run(line: string): Promise<string> {
      sock.write(line + '\r');
      const text = (await untilPrompt(JSON.stringify(line))).replace(/\r\n/g, '\n');
      return text.slice(text.indexOf('\n') + 1);
    },
    /** Sends a line without waiting for a prompt (quit gets none). */
    send: (line: string) => { sock.write(line + '\r'); },
    close: () => sock.destroy(),
  };
}
