/**
 * A vCPU thread: KVM_RUN in a synchronous loop (an async call would halve
 * the exit rate). Port and MMIO exits go to the main thread through the
 * channel; everything else is decided here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as libc from '../sys/libc.js';
import { COALESCED_RING, EXIT, EXIT_IO_OUT, KVM, RUN } from '../sys/kvm-abi.js';
import { PCI_CONFIG_ADDRESS, PciConfigShared, pciFastPath } from './pci-config-fastpath.js';
import {
  COUNT, IDLE, IS_WRITE, KIND, KIND_MMIO, KIND_PIO, REQUEST, SIZE, STATE, STOP,
  VcpuChannel, VcpuEvent, VcpuWorkerData,
} from './vcpu-channel.js';

const d = workerData as VcpuWorkerData;
const ch = new VcpuChannel(d.sab);
const run = new Uint8Array(libc.view(d.runAddr, d.runSize));
const runView = new DataView(run.buffer, run.byteOffset, run.byteLength);
const ignored = new Set(d.ignoredOutPorts);
const pci = new PciConfigShared(d.pciSab);
const post = (e: VcpuEvent) => parentPort!.postMessage(e);
// The VM's coalesced PIO ring (page 2 of the kvm_run mapping), if KVM maps one.
const ringOffset = COALESCED_RING.PAGE * 4096;
const ring = d.runSize >= ringOffset + 4096 ? new DataView(run.buffer, run.byteOffset + ringOffset, 4096) : null;

/**
 * Apply the CF8 writes KVM queued in the ring instead of exiting (pc.ts
 * coalesces port 0xCF8), in order, before every exit we handle: a config data
 * access or a CF8 read then sees the latch the guest last wrote. The ring is
 * one per VM, so vCPU threads take turns (one replaying stale entries while
 * another reads the latch would be wrong).
 */
function drainCoalesced(): void {
  if (!ring || ring.getUint32(COALESCED_RING.FIRST, true) === ring.getUint32(COALESCED_RING.LAST, true)) return;
  while (Atomics.compareExchange(pci.drainLock, 0, 0, 1) !== 0) Atomics.wait(pci.drainLock, 0, 1, 1);
  try {
    let first = ring.getUint32(COALESCED_RING.FIRST, true);
    const last = ring.getUint32(COALESCED_RING.LAST, true);
    while (first !== last && first < COALESCED_RING.MAX) {
      const e = COALESCED_RING.ENTRIES + first * COALESCED_RING.ENTRY_SIZE;
      // Only 4-byte CF8 writes latch an address, as on the bus.
      if (ring.getUint32(e + COALESCED_RING.ADDR, true) === PCI_CONFIG_ADDRESS && ring.getUint32(e + COALESCED_RING.LEN, true) === 4) {
        pciFastPath(pci, PCI_CONFIG_ADDRESS, 4, true, ring, e + COALESCED_RING.DATA);
      }
      first = (first + 1) % COALESCED_RING.MAX;
    }
    ring.setUint32(COALESCED_RING.FIRST, first, true);
  } finally {
    Atomics.store(pci.drainLock, 0, 0);
    Atomics.notify(pci.drainLock, 0, 1);
  }
}

/** Hand one access to the main thread and wait for it to be done. */
function forward(kind: number, addr: number, size: number, count: number, isWrite: boolean): void {
  const ctl = ch.ctl;
  ctl[KIND] = kind; ch.addr = addr; ctl[SIZE] = size; ctl[COUNT] = count; ctl[IS_WRITE] = isWrite ? 1 : 0;
  Atomics.store(ctl, STATE, REQUEST);
  Atomics.notify(ctl, STATE);
  while (Atomics.load(ctl, STATE) === REQUEST) Atomics.wait(ctl, STATE, REQUEST);
  Atomics.store(ctl, STATE, IDLE);
  Atomics.notify(ctl, STATE);
}

function handleIo(): void {
  const port = runView.getUint16(RUN.IO_PORT, true);
  const size = run[RUN.IO_SIZE]!, count = runView.getUint32(RUN.IO_COUNT, true);
  const out = run[RUN.IO_DIRECTION] === EXIT_IO_OUT;
  // data_offset is a u64 into this mapping; its high half is zero for any offset inside it.
  const off = runView.getUint32(RUN.IO_DATA_OFFSET, true) + 2 ** 32 * runView.getUint32(RUN.IO_DATA_OFFSET + 4, true);
  const len = size * count;
  if (out && ignored.has(port)) return;
  if (off + len > run.length) throw new Error(`I/O exit data at ${off}+${len} is outside kvm_run`);
  if (count === 1 && pciFastPath(pci, port, size, out, runView, off)) return;
  if (out) ch.data.set(run.subarray(off, off + len));
  forward(KIND_PIO, port, size, count, out);
  if (!out) run.set(ch.data.subarray(0, len), off);
}

function handleMmio(): void {
  const addr = Number(runView.getBigUint64(RUN.MMIO_PHYS_ADDR, true));
  const len = Math.min(runView.getUint32(RUN.MMIO_LEN, true), 8);
  const write = run[RUN.MMIO_IS_WRITE] !== 0;
  if (write) ch.data.set(run.subarray(RUN.MMIO_DATA, RUN.MMIO_DATA + len));
  forward(KIND_MMIO, addr, len, 1, write);
  if (!write) run.set(ch.data.subarray(0, len), RUN.MMIO_DATA);
}

function loop(): void {
  for (;;) {
    if (Atomics.load(ch.ctl, STOP)) return;
    const r = libc.ioctlRaw(d.fd, KVM.RUN, 0);
    if (r < 0) {
      if (-r === libc.ERRNO.EINTR || -r === libc.ERRNO.EAGAIN) {
        run[RUN.IMMEDIATE_EXIT] = 0;
        continue;
      }
      post({ type: 'fatal', index: d.index, message: `KVM_RUN failed: ${libc.errnoName(-r)}` });
      return;
    }
    drainCoalesced();
    const reason = runView.getUint32(RUN.EXIT_REASON, true);
    switch (reason) {
      case EXIT.IO: handleIo(); break;
      case EXIT.MMIO: handleMmio(); break;
      case EXIT.INTR: break;
      case EXIT.HLT: break; // not expected with the in-kernel irqchip
      case EXIT.SHUTDOWN: post({ type: 'shutdown', index: d.index }); return;
      case EXIT.SYSTEM_EVENT:
        post({ type: 'system-event', index: d.index, event: runView.getUint32(RUN.SYSTEM_EVENT_TYPE, true) });
        return;
      case EXIT.FAIL_ENTRY:
        post({ type: 'fatal', index: d.index, message: `KVM entry failed, hardware reason 0x${runView.getBigUint64(RUN.FAIL_ENTRY_REASON, true).toString(16)}` });
        return;
      case EXIT.INTERNAL_ERROR:
        post({ type: 'fatal', index: d.index, message: `KVM internal error, suberror ${runView.getUint32(RUN.INTERNAL_SUBERROR, true)}` });
        return;
      default:
        post({ type: 'fatal', index: d.index, message: `unexpected KVM exit reason ${reason}` });
        return;
    }
  }
}

libc.unblockSignal(d.kickSignal);
post({ type: 'started', index: d.index, thread: libc.pthreadSelf() });
try {
  loop();
} catch (e) {
  post({ type: 'fatal', index: d.index, message: String(e instanceof Error ? e.message : e) });
}
post({ type: 'stopped', index: d.index });
