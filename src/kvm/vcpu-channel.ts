/**
 * How a vCPU thread hands an I/O exit to the main thread, which owns every
 * device model: the worker fills in the request, flips STATE to REQUEST and
 * sleeps in Atomics.wait; the main thread (woken by Atomics.waitAsync)
 * performs the access on its bus, writes any read data back and flips STATE
 * to RESPONSE. One channel per vCPU, so vCPUs never wait on each other.
 */
export const STATE = 0, KIND = 1, ADDR_LO = 2, ADDR_HI = 3, SIZE = 4, COUNT = 5, IS_WRITE = 6, STOP = 7;
/**
 * Written by the vCPU thread for diagnostics only (plain stores, read racily):
 * inside KVM_RUN or not, exits so far, the last exit's reason and address.
 * DUMP: the main thread asks a worker vCPU for its state (answered with a 'state' event).
 */
export const IN_RUN = 8, EXITS = 9, LAST_REASON = 10, LAST_ADDR = 11, LAST_WRITE = 12, DUMP = 13;
/** PAUSE: set by the main thread (monitor 'stop'); PAUSED: a worker vCPU's answer that it is out of KVM_RUN and waits. */
export const PAUSE = 14, PAUSED = 15;
import type { VcpuState } from './vcpu-state.js';
import { fromHalves } from '../sys/u64-halves.js';

export const IDLE = 0, REQUEST = 1, RESPONSE = 2;
export const KIND_PIO = 1, KIND_MMIO = 2;
const HEADER = 64;
export const DATA_MAX = 4096; // string I/O never exceeds the kvm_run page

export class VcpuChannel {
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
  /** data's first n bytes, n = 0 to 8, made once: one access's bytes without a new view per exit. */
  private readonly heads: Uint8Array[];
  constructor(readonly sab: SharedArrayBuffer = new SharedArrayBuffer(HEADER + DATA_MAX)) {
    this.ctl = new Int32Array(sab, 0, HEADER / 4);
    this.data = new Uint8Array(sab, HEADER, DATA_MAX);
    this.heads = Array.from({ length: 9 }, (_, n) => this.data.subarray(0, n));
  }
  // V8 runs this unoptimized (bin/pmemvm.cjs): arithmetic on numbers past 31 bits makes heap
  // objects, so an address below 4 GiB (most exits) takes none.
  get addr(): number {
    return fromHalves(this.ctl[ADDR_LO]! >>> 0, this.ctl[ADDR_HI]! >>> 0);
  }
  set addr(a: number) {
    if (a <= 0xffff_ffff) { this.ctl[ADDR_LO] = a | 0; this.ctl[ADDR_HI] = 0; return; }
    this.ctl[ADDR_LO] = a % 0x1_0000_0000 | 0;
    this.ctl[ADDR_HI] = Math.floor(a / 0x1_0000_0000) | 0;
  }
  /** The bytes of the `i`th of an access's repeats of `size` bytes (string I/O repeats). */
  bytes(i: number, size: number): Uint8Array {
    return i === 0 && size <= 8 ? this.heads[size]! : this.data.subarray(i * size, (i + 1) * size);
  }
}

/** Messages from a vCPU worker to the main thread (rare events only). */
export type VcpuEvent =
  | { type: 'started'; index: number; thread: bigint; tid: number }
  | { type: 'stopped'; index: number }
  | { type: 'shutdown'; index: number }                      // triple fault: the PC resets
  | { type: 'system-event'; index: number; event: number }
  | { type: 'fatal'; index: number; message: string }
  | { type: 'state'; index: number; state: VcpuState | string }
  /** A flush-hint fdatasync failed (errno); the vCPU goes on, the error is the machine's to report. */
  | { type: 'flush-error'; index: number; slot: number; errno: number };

export interface VcpuWorkerData {
  index: number;
  fd: number;
  runAddr: bigint;
  runSize: number;
  sab: SharedArrayBuffer;
  kickSignal: number;
  /** PCI config latch + presence bitmap shared by all vCPUs (pci-config-fastpath.ts). */
  pciSab: SharedArrayBuffer;
  /** Ports whose writes are dropped in the vCPU thread itself (port 0x80 delays). */
  ignoredOutPorts: number[];
  /** NVDIMM flush hints shared by every vCPU (flush-hints.ts), if any DIMM may have one. */
  hintSab?: SharedArrayBuffer;
  /** The main thread runs vCPU 0: kick it out of KVM_RUN (its kvm_run page, its pthread) after posting a request. */
  mainKick?: { runAddr: bigint; thread: bigint };
}
