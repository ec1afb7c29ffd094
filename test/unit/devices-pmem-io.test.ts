// Device I/O without KVM, both ways pmemvm serves virtio-pmem queues (pmem-io.ts): on the
// main thread through an io_uring (pmem-reactor.ts), and the device I/O thread (pmem-thread.ts,
// pmem-worker.ts). Devices come and go, a removed device leaves no fd behind in the process,
// and idle device I/O does not keep pmemvm alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as libc from '../../src/sys/libc.js';
import { PmemIoThread } from '../../src/devices/virtio/pmem-thread.js';
import { PmemIoReactor } from '../../src/devices/virtio/pmem-reactor.js';
import type { PmemDeviceData, PmemIo } from '../../src/devices/virtio/pmem-io.js';
import { VirtioShared } from '../../src/devices/virtio/shared.js';

// The thread holds copies of the devices' eventfds; count those (the process's other fds come and go
// as Node loads modules, slowly in the test host).
const fds = () => readdirSync('/proc/self/fd').filter((f) => {
  try { return readlinkSync(`/proc/self/fd/${f}`) === 'anon_inode:[eventfd]'; } catch { return false; }
}).length;
const threads = () => readdirSync('/proc/self/task').length;
const thread = new PmemIoThread();
const pmemIoThread = () => thread;
const one = new Uint8Array(8);
one[0] = 1;

/** A device whose driver has not set up its queue: notifies find nothing to serve. */
function idleDevice(notifyFd: number): PmemDeviceData {
  const shared = new VirtioShared(1, 2);
  return { sab: shared.sab, queues: 1, vectors: 2, regions: [], backendFd: -1, notifyFd, vmFd: -1, intxGsi: 0 };
}
const events = { onError: (m: string) => { throw new Error(m); }, onBroken: (m: string) => { throw new Error(m); }, onFatal: (m: string) => { throw new Error(m); } };

/** Eight devices added, notified and removed: no thread per device, each removal answers, and the process is left with the fds and threads it had. */
async function eightDevices(io: PmemIo): Promise<void> {
  const notifies = Array.from({ length: 8 }, () => libc.eventfd());
  try {
    const before = { fds: fds() - notifies.length, threads: threads() };
    const devices = notifies.map((fd) => io.add(idleDevice(fd), events));
    for (const fd of notifies) libc.write(fd, one);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(threads(), before.threads, 'no thread per device');
    assert.deepEqual(await Promise.all(devices.map((d) => d.remove())), [0, 0, 0, 0, 0, 0, 0, 0], 'removed, no flushes');
    assert.equal(await devices[0]!.remove(), 0, 'a second remove answers the same');
    for (const fd of notifies.splice(0)) libc.close(fd);
    // A thread closes its copies as its handles close, which may be just after it answered.
    for (let i = 0; i < 50 && fds() > before.fds; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual({ fds: fds(), threads: threads() }, before);
  } finally {
    for (const fd of notifies) libc.close(fd);
  }
}

test('device I/O thread: eight devices are served by one thread; each removal answers, and the process is left with the fds and threads it had', async () => {
  // The first device starts the thread: measure from there.
  const firstFd = libc.eventfd();
  const first = pmemIoThread().add(idleDevice(firstFd), events);
  // Until the thread has started (its V8 and libuv helpers too): the thread count stops moving.
  // and it holds its copy of the first device's eventfd: neither count moves any more.
  const state = () => `${threads()}/${fds()}`;
  for (let i = 0, last = ''; i < 50 && state() !== last; i++) { last = state(); await new Promise((r) => setTimeout(r, 300)); }
  // One device added, signalled and removed first: what the thread allocates once, on first use, is not per device.
  const warmFd = libc.eventfd();
  const warm = pmemIoThread().add(idleDevice(warmFd), events);
  libc.write(warmFd, one);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await warm.remove(), 0);
  libc.close(warmFd);
  for (let i = 0, last = ''; i < 50 && state() !== last; i++) { last = state(); await new Promise((r) => setTimeout(r, 300)); }
  try {
    await eightDevices(pmemIoThread());
  } finally {
    // Whatever failed, the thread must not keep this test file alive until its timeout.
    assert.equal(await first.remove(), 0);
    libc.close(firstFd);
  }
});

/** In a process of its own: one device added and removed; the process must then end by itself. */
function keepsAliveWhileServing(module: string, className: string): void {
  const shared = fileURLToPath(new URL('../../src/devices/virtio/shared.js', import.meta.url));
  const libcPath = fileURLToPath(new URL('../../src/sys/libc.js', import.meta.url));
  const code = `
    const { ${className} } = await import(${JSON.stringify(fileURLToPath(new URL(module, import.meta.url)))});
    const { VirtioShared } = await import(${JSON.stringify(shared)});
    const libc = await import(${JSON.stringify(libcPath)});
    const io = new ${className}();
    const s = new VirtioShared(1, 2);
    const d = io.add({ sab: s.sab, queues: 1, vectors: 2, regions: [], backendFd: -1, notifyFd: libc.eventfd(), vmFd: -1, intxGsi: 0 },
      { onError() {}, onBroken() {}, onFatal(m) { console.log('fatal', m); } });
    setTimeout(() => d.remove().then((n) => console.log('removed', n)), 300);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, `still running after 30 s: ${r.stdout}${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^removed 0$/m);
}

test('device I/O thread: it keeps the process alive while it serves a device (a removal is answered), and not after the last one left', () => {
  keepsAliveWhileServing('../../src/devices/virtio/pmem-thread.js', 'PmemIoThread');
});

test('device I/O thread: prestart() starts it before any device (a hot-added device then waits for no isolate), and the idle thread does not keep the process alive', () => {
  const module = fileURLToPath(new URL('../../src/devices/virtio/pmem-thread.js', import.meta.url));
  const code = `
    const { readdirSync } = await import('node:fs');
    const { PmemIoThread } = await import(${JSON.stringify(module)});
    const io = new PmemIoThread();
    const threads = () => readdirSync('/proc/self/task').length;
    const before = threads();
    io.prestart();
    io.prestart(); // a second call starts nothing more
    // The worker's thread appears as it starts; wait for it, then let the process end on its own.
    const t0 = Date.now();
    const poll = () => { if (threads() > before) console.log('started'); else if (Date.now() - t0 < 20000) setTimeout(poll, 50); };
    poll();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, `still running after 30 s (the idle thread holds the process): ${r.stdout}${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^started$/m);
});

test('device I/O on the main thread (io_uring): eight devices cost no thread and no fd beyond their own; each removal answers', async () => {
  await eightDevices(new PmemIoReactor());
});

test('device I/O on the main thread (io_uring): it keeps the process alive while it serves a device, and not after the last one left', () => {
  keepsAliveWhileServing('../../src/devices/virtio/pmem-reactor.js', 'PmemIoReactor');
});

test('device I/O on the main thread (io_uring): a completion leaves the work signal (not the kick signal) pending on the main thread before any event-loop turn (KVM_RUN would return at once), and each round is re-armed', async () => {
  const io = new PmemIoReactor();
  const sig = libc.workSignal(), kick = libc.kickSignal();
  const notify = libc.eventfd();
  libc.blockSignal(sig); // as on vCPU 0's thread outside KVM_RUN
  libc.blockSignal(kick);
  try {
    const device = io.add(idleDevice(notify), events);
    await new Promise((r) => setTimeout(r, 50)); // the add's own completions, taken by the event loop
    libc.drainSignal(sig);
    for (let round = 0; round < 3; round++) {
      // The notify's completion is posted as task work on the way back from this write, and its
      // kick (a write to the signalling pipe, linked to the completion eventfd's poll) with it.
      libc.write(notify, one);
      assert.ok(libc.drainSignal(sig) >= 1, `round ${round}: no work signal pending after a completion`);
      // vCPU 0 goes back into the guest without an event-loop turn only when no kick is pending.
      assert.equal(libc.drainSignal(kick), 0, `round ${round}: a completion sent the kick signal`);
      await new Promise((r) => setTimeout(r, 50)); // the event loop takes the completion and re-arms
    }
    assert.equal(await device.remove(), 0);
  } finally {
    libc.drainSignal(sig);
    libc.unblockSignal(sig);
    libc.drainSignal(kick);
    libc.unblockSignal(kick);
    libc.close(notify);
  }
});
