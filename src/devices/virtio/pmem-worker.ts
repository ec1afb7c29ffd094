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
import { GuestMemory, type Region } from '../../memory/guest-memory.js';
import { PmemRequestServer } from './pmem.js';
import { VirtioShared } from './shared.js';

export interface PmemWorkerData {
  sab: SharedArrayBuffer;
  queues: number;
  vectors: number;
  /** Guest RAM, where the rings and requests live. */
  regions: Region[];
  /** The backend file, or -1 (nothing to make durable). */
  backendFd: number;
  notifyFd: number;
  vmFd: number;
  intxGsi: number;
}

/** Messages to the main thread. */
export type PmemWorkerEvent = { type: 'error' | 'broken'; message: string } | { type: 'stopped'; flushes: number };

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
