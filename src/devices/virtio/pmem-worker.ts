/**
 * The thread that serves one virtio-pmem device's request queue. It sleeps
 * in read() on the notify eventfd, which KVM signals when the guest writes
 * the queue's notify register (KVM_IOEVENTFD: no exit reaches pmemvm), then
 * answers every request: fsync of the backend, status, used ring, and the
 * interrupt (KVM_SIGNAL_MSI, or INTx), all from here. One wake-up per flush,
 * and neither a vCPU nor the main thread waits for the disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as libc from '../../sys/libc.js';
import { setIrqLine, signalMsi } from '../../kvm/irq.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import type { PmemWorkerData, PmemWorkerEvent } from './pmem-thread.js';
import { PmemRequestServer } from './pmem.js';
import { VirtioShared } from './shared.js';

const d = workerData as PmemWorkerData;
const post = (e: PmemWorkerEvent) => parentPort!.postMessage(e);
const shared = new VirtioShared(d.queues, d.vectors, d.sab);
const memory = new GuestMemory();
for (const r of d.regions) memory.add(r.name, r.gpa, r.size, r.hostAddr);

const server = new PmemRequestServer({
  shared,
  memory,
  flush: () => { if (d.backendFd >= 0) libc.fsync(d.backendFd); },
  irq: {
    setIntx: (level) => setIrqLine(d.vmFd, d.intxGsi, level),
    signalMsi: (lo, hi, data) => signalMsi(d.vmFd, lo, hi, data),
  },
  onError: (message) => post({ type: 'error', message }),
  onBroken: (message) => post({ type: 'broken', message }),
});

const counter = new Uint8Array(8);
while (!shared.stopping) {
  try {
    libc.read(d.notifyFd, counter); // blocks until notified (or asked to stop)
  } catch (e) {
    if ((e as libc.SysError).errno === libc.ERRNO.EINTR) continue;
    throw e;
  }
  if (shared.stopping) break;
  server.service();
}
post({ type: 'stopped', flushes: server.flushes });
