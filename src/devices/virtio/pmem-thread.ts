/**
 * Starting a virtio-pmem device thread (pmem-worker.ts) and what passes
 * between it and the main thread. Kept beside the worker so the worker's URL
 * is the same relative path in dist/ and in the bundle.
 */
import { Worker } from 'node:worker_threads';
import type { Region } from '../../memory/guest-memory.js';

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

export function startPmemWorker(data: PmemWorkerData): Worker {
  return new Worker(new URL('./pmem-worker.js', import.meta.url), { workerData: data });
}
