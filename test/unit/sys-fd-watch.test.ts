// watchEventfd: an eventfd waited for on this thread's event loop (how the device
// I/O thread hears KVM's ioeventfds): signals arrive as calls, the caller's fd
// stays usable, and closing the watch leaves no fd behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as libc from '../../src/sys/libc.js';
import { watchEventfd } from '../../src/sys/fd-watch.js';

const fds = () => readdirSync('/proc/self/fd').length;
const one = new Uint8Array(8);
one[0] = 1;
const turn = () => new Promise((r) => setTimeout(r, 50));
/** Turns of the event loop until `f()` holds (a slow machine may need many), at most 10 s. */
async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !f(); i++) await turn();
}

test('watchEventfd: each signal (coalesced if several come at once) is a call; closed, it leaves no fd and makes no more calls', async () => {
  const before = fds();
  const fd = libc.eventfd();
  let calls = 0;
  const w = watchEventfd(fd, () => { calls++; }, (e) => { throw e; });
  libc.write(fd, one);
  libc.write(fd, one);
  await until(() => calls >= 1);
  await turn();
  assert.equal(calls, 1, 'two signals before the loop looked: one call');
  libc.write(fd, one);
  await until(() => calls >= 2);
  assert.equal(calls, 2);
  w.close();
  w.close();
  libc.write(fd, one); // the caller's fd is still open
  await turn();
  assert.equal(calls, 2);
  libc.close(fd);
  assert.equal(fds(), before);
});

test('watchEventfd: a signal that came before the watch is seen', async () => {
  const fd = libc.eventfd();
  libc.write(fd, one);
  let calls = 0;
  const w = watchEventfd(fd, () => { calls++; }, (e) => { throw e; });
  await until(() => calls >= 1);
  assert.equal(calls, 1);
  w.close();
  libc.close(fd);
});
