/**
 * The device I/O thread: it serves the request queue of every virtio-pmem
 * device (pmem-thread.ts adds and removes them). It waits on its event loop,
 * where each device's notify eventfd is watched (KVM signals it when the
 * guest writes the queue's notify register: KVM_IOEVENTFD, no exit reaches
 * pmemvm), then answers the requests: fsync of the backend (on libuv's
 * thread pool when there are several devices, so that this thread serves the
 * others meanwhile), status, used ring, and the interrupt (KVM_SIGNAL_MSI, or
 * INTx), all from here. Neither a vCPU nor the main thread waits for the
 * disk, and the disk of one device does not hold up another.
 */
import { parentPort } from 'node:worker_threads';
import * as libc from '../../sys/libc.js';
import { watchEventfd, type EventfdWatch } from '../../sys/fd-watch.js';
import type { PmemIoEvent, PmemIoRequest } from './pmem-thread.js';
import type { PmemDeviceData } from './pmem-io.js';
import { pmemServerFor } from './pmem-server.js';
import type { PmemRequestServer } from './pmem.js';

const port = parentPort!;
const post = (e: PmemIoEvent) => port.postMessage(e);

interface Device { server: PmemRequestServer; watch: EventfdWatch }
const devices = new Map<number, Device>();

/**
 * The backend's fsync. With one device the thread does it itself: nothing else waits for the
 * thread, and a hand-off to libuv's pool and back costs two thread switches per flush (p50
 * 1.2-1.6x QEMU's in bench/flush, against 1.0x in the thread). With several, the pool does
 * it, so that one device's slow disk never holds up another device's flush.
 */
function flush(fd: number, done: (error: Error | null) => void): void {
  if (fd < 0) return done(null);
  if (devices.size > 1) return libc.fsyncAsync(fd, done);
  let error: Error | null = null;
  try { libc.fsync(fd); } catch (e) { error = e as Error; }
  done(error);
}

function add(id: number, d: PmemDeviceData): void {
  const server = pmemServerFor(d, {
    flush: (done) => flush(d.backendFd, done),
    onError: (message) => post({ type: 'error', id, message }),
    onBroken: (message) => post({ type: 'broken', id, message }),
  });
  // A notify that came before the watch is still in the eventfd's counter: the watch sees it.
  const watch = watchEventfd(d.notifyFd, () => server.service(), (e) => { throw e; });
  devices.set(id, { server, watch });
}

function remove(id: number): void {
  const d = devices.get(id);
  if (!d) { post({ type: 'removed', id, flushes: 0 }); return; }
  d.watch.close();
  d.server.stop(() => {
    devices.delete(id);
    post({ type: 'removed', id, flushes: d.server.flushes });
  });
}

port.on('message', (m: PmemIoRequest) => {
  if (m.type === 'add') add(m.id, m.device);
  else remove(m.id);
});
