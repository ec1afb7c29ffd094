/**
 * One vCPU's KVM_RUN loop (an async call would halve the exit rate), the same
 * code whether it runs in a worker thread or on the main thread: exits that
 * need no device model (absent PCI functions, port 0x80, coalesced CF8
 * writes) are decided here; the rest go to `forward`, which performs the
 * access described by the channel's request fields.
 */
import * as libc from '../sys/libc.js';
import { COALESCED_RING, EXIT, EXIT_IO_OUT, KVM, RUN } from '../sys/kvm-abi.js';
import { PCI_CONFIG_ADDRESS, PciConfigShared, pciFastPath } from './pci-config-fastpath.js';
import {
  ADDR_HI, ADDR_LO, COUNT, DUMP, EXITS, IN_RUN, IS_WRITE, KIND, KIND_MMIO, KIND_PIO, LAST_ADDR, LAST_REASON, LAST_WRITE, PAUSE, PAUSED, SIZE, STOP,
  VcpuChannel, VcpuEvent,
} from './vcpu-channel.js';
import { readVcpuState } from './vcpu-state.js';
import { FlushHintTable } from './flush-hints.js';
import { fromHalves } from '../sys/u64-halves.js';

export interface VcpuLoopConfig {
  index: number;
  fd: number;
  runAddr: bigint;
  runSize: number;
  ch: VcpuChannel;
  pci: PciConfigShared;
  ignoredOutPorts: readonly number[];
  /** NVDIMM flush hints (flush-hints.ts): writes to the hint page are flushes, decided in this thread. */
  hintSab?: SharedArrayBuffer;
}

/**
 * Why `loop` returned: stopped (STOP set), ended (an exit that ends this vCPU
 * was posted), interrupted (a signal, or a wanted yield), paused (PAUSE
 * set; only with returnOnSignal: a worker waits in the loop instead), or
 * flushing (only with returnOnSignal: the guest wrote a flush hint; run again
 * once `pendingFlush` settles, not before: the write completes the flush).
 */
export type LoopResult = 'stopped' | 'ended' | 'interrupted' | 'paused' | 'flushing';

export class VcpuLoop {
  private readonly run: Uint8Array;
  private readonly runView: DataView;
  private readonly ring: DataView | null;
  private readonly ignored: Set<number>;
  private readonly hints: FlushHintTable | null;
  /** Set when loop(true) returned 'flushing'. */
  pendingFlush: Promise<void> | null = null;

  /**
   * `wantsYield` (main thread): asked after each forwarded access; true makes
   * `loop(true)` return, e.g. to flush console output the access produced.
   */
  constructor(private readonly c: VcpuLoopConfig, private readonly forward: () => void,
              private readonly post: (e: VcpuEvent) => void, private readonly wantsYield: () => boolean = () => false) {
    this.run = new Uint8Array(libc.view(c.runAddr, c.runSize));
    this.runView = new DataView(this.run.buffer, this.run.byteOffset, this.run.byteLength);
    // The VM's coalesced PIO ring (page 2 of the kvm_run mapping), if KVM maps one.
    const ringOffset = COALESCED_RING.PAGE * 4096;
    this.ring = c.runSize >= ringOffset + 4096 ? new DataView(this.run.buffer, this.run.byteOffset + ringOffset, 4096) : null;
    this.ignored = new Set(c.ignoredOutPorts);
    this.hints = c.hintSab ? new FlushHintTable(c.hintSab) : null;
  }

  /**
   * KVM_RUN until the vCPU is stopped or ends; with `returnOnSignal`, also
   * return when a signal interrupts it (the main thread then lets its event
   * loop run). Exceptions are posted as fatal and end the loop.
   */
  loop(returnOnSignal: boolean): LoopResult {
    try {
      return this.loopInner(returnOnSignal);
    } catch (e) {
      this.post({ type: 'fatal', index: this.c.index, message: String(e instanceof Error ? e.message : e) });
      return 'ended';
    }
  }

  private loopInner(returnOnSignal: boolean): LoopResult {
    const { ch, fd, index } = this.c;
    const ctl = ch.ctl;
    const run = this.run, runView = this.runView;
    for (;;) {
      if (Atomics.load(ctl, STOP)) return 'stopped';
      if (Atomics.load(ctl, PAUSE)) {
        if (returnOnSignal) return 'paused';
        this.waitWhilePaused();
        continue;
      }
      ctl[IN_RUN] = 1;
      const r = libc.ioctlRaw(fd, KVM.RUN, 0);
      ctl[IN_RUN] = 0;
      if (r < 0) {
        if (-r === libc.ERRNO.EINTR || -r === libc.ERRNO.EAGAIN) {
          run[RUN.IMMEDIATE_EXIT] = 0;
          if (Atomics.exchange(ctl, DUMP, 0)) this.postState();
          if (returnOnSignal) return 'interrupted';
          continue;
        }
        this.post({ type: 'fatal', index, message: `KVM_RUN failed: ${libc.errnoName(-r)}` });
        return 'ended';
      }
      this.drainCoalesced();
      const reason = runView.getUint32(RUN.EXIT_REASON, true);
      ctl[EXITS]++; ctl[LAST_REASON] = reason;
      switch (reason) {
        case EXIT.IO: if (this.handleIo() && returnOnSignal && this.wantsYield()) return 'interrupted'; break;
        case EXIT.MMIO:
          if (this.hints && this.flushHint(returnOnSignal)) { if (this.pendingFlush) return 'flushing'; break; }
          this.handleMmio();
          if (returnOnSignal && this.wantsYield()) return 'interrupted';
          break;
        case EXIT.INTR: if (returnOnSignal) return 'interrupted'; break;
        case EXIT.HLT: break; // not expected with the in-kernel irqchip
        case EXIT.SHUTDOWN: this.post({ type: 'shutdown', index }); return 'ended';
        case EXIT.SYSTEM_EVENT:
          this.post({ type: 'system-event', index, event: runView.getUint32(RUN.SYSTEM_EVENT_TYPE, true) });
          return 'ended';
        case EXIT.FAIL_ENTRY:
          this.post({ type: 'fatal', index, message: `KVM entry failed, hardware reason 0x${runView.getBigUint64(RUN.FAIL_ENTRY_REASON, true).toString(16)}` });
          return 'ended';
        case EXIT.INTERNAL_ERROR:
          this.post({ type: 'fatal', index, message: `KVM internal error, suberror ${runView.getUint32(RUN.INTERNAL_SUBERROR, true)}` });
          return 'ended';
        default:
          this.post({ type: 'fatal', index, message: `unexpected KVM exit reason ${reason}` });
          return 'ended';
      }
    }
  }

  /** A worker vCPU, paused by the monitor: say so, and sleep until resumed or stopped. */
  private waitWhilePaused(): void {
    const ctl = this.c.ch.ctl;
    Atomics.store(ctl, PAUSED, 1);
    Atomics.notify(ctl, PAUSED);
    while (Atomics.load(ctl, PAUSE) && !Atomics.load(ctl, STOP)) Atomics.wait(ctl, PAUSE, 1);
    Atomics.store(ctl, PAUSED, 0);
  }

  /** Answer the main thread's DUMP request from this thread, which holds the vCPU. */
  private postState(): void {
    let state;
    try { state = readVcpuState(this.c.fd); } catch (e) { state = `state unreadable: ${(e as Error).message}`; }
    this.post({ type: 'state', index: this.c.index, state });
  }

  /** Ask KVM_RUN to return at once the next time it is entered (a kick that cannot be lost). */
  setImmediateExit(): void { this.run[RUN.IMMEDIATE_EXIT] = 1; }

  /**
   * Apply the CF8 writes KVM queued in the ring instead of exiting (pc.ts
   * coalesces port 0xCF8), in order, before every exit we handle: a config data
   * access or a CF8 read then sees the latch the guest last wrote. The ring is
   * one per VM, so vCPU threads take turns (one replaying stale entries while
   * another reads the latch would be wrong).
   */
  private drainCoalesced(): void {
    const ring = this.ring, pci = this.c.pci;
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

  /** A port access for `forward` (MMIO exits write the channel's words themselves: handleMmio). */
  private requestPort(port: number, size: number, count: number, isWrite: boolean): void {
    const ch = this.c.ch, ctl = ch.ctl;
    ctl[KIND] = KIND_PIO; ch.addr = port; ctl[SIZE] = size; ctl[COUNT] = count; ctl[IS_WRITE] = isWrite ? 1 : 0;
    this.forward();
  }

  /** Returns true if the access went to `forward`. */
  private handleIo(): boolean {
    const run = this.run, runView = this.runView, ch = this.c.ch;
    const port = runView.getUint16(RUN.IO_PORT, true);
    const size = run[RUN.IO_SIZE]!, count = runView.getUint32(RUN.IO_COUNT, true);
    const out = run[RUN.IO_DIRECTION] === EXIT_IO_OUT;
    // data_offset is a u64 into this mapping; its high half is zero for any offset inside it
    // (and then left out of the sum: see mmioAddress).
    const off = fromHalves(runView.getUint32(RUN.IO_DATA_OFFSET, true), runView.getUint32(RUN.IO_DATA_OFFSET + 4, true));
    const len = size * count;
    ch.ctl[LAST_ADDR] = port; ch.ctl[LAST_WRITE] = out ? 1 : 0;
    if (out && this.ignored.has(port)) return false;
    if (off + len > run.length) throw new Error(`I/O exit data at ${off}+${len} is outside kvm_run`);
    if (count === 1 && pciFastPath(this.c.pci, port, size, out, runView, off)) return false;
    const data = ch.data;
    if (out) for (let i = 0; i < len; i++) data[i] = run[off + i]!; // no views made per exit (see handleMmio)
    this.requestPort(port, size, count, out);
    if (!out) for (let i = 0; i < len; i++) run[off + i] = data[i]!;
    return true;
  }

  /**
   * An access to the flush-hint page, if this exit is one (true). A write to a
   * DIMM's hint is a flush: a worker does it before returning; on the main
   * thread it starts here and `pendingFlush` is set. Reads, and writes where no
   * DIMM has a hint, do nothing (reads return 0).
   */
  private flushHint(async: boolean): boolean {
    const run = this.run, hints = this.hints!;
    const slot = FlushHintTable.slotAt(this.mmioAddress());
    if (slot === null) return false;
    if (run[RUN.MMIO_IS_WRITE] === 0) { run.fill(0, RUN.MMIO_DATA, RUN.MMIO_DATA + 8); return true; }
    if (!hints.has(slot)) return true;
    const index = this.c.index;
    if (!async) {
      const errno = hints.flushSync(slot);
      if (errno) this.post({ type: 'flush-error', index, slot, errno });
      return true;
    }
    this.pendingFlush = hints.flushAsync(slot).then((errno) => {
      if (errno) this.post({ type: 'flush-error', index, slot, errno });
    }, (e: unknown) => {
      this.post({ type: 'fatal', index, message: `flush hint: ${e instanceof Error ? e.message : String(e)}` });
    }).finally(() => { this.pendingFlush = null; });
    return true;
  }

  private handleMmio(): void {
    const run = this.run, runView = this.runView, ch = this.c.ch, ctl = ch.ctl, data = ch.data;
    // The address as the channel carries it, two signed halves: small integers, however high
    // the BAR (see mmioAddress); the main thread's bus looks it up the same way (IoBus.findHalves).
    const lo = runView.getInt32(RUN.MMIO_PHYS_ADDR, true), hi = runView.getInt32(RUN.MMIO_PHYS_ADDR + 4, true);
    const len = Math.min(runView.getUint32(RUN.MMIO_LEN, true), 8);
    const write = run[RUN.MMIO_IS_WRITE] !== 0;
    ctl[LAST_ADDR] = lo; ctl[LAST_WRITE] = write ? 1 : 0;
    // Byte loops, not set(subarray()): no view objects made per exit (see mmioAddress).
    if (write) for (let i = 0; i < len; i++) data[i] = run[RUN.MMIO_DATA + i]!;
    ctl[KIND] = KIND_MMIO; ctl[ADDR_LO] = lo; ctl[ADDR_HI] = hi; ctl[SIZE] = len; ctl[COUNT] = 1; ctl[IS_WRITE] = write ? 1 : 0;
    this.forward();
    if (!write) for (let i = 0; i < len; i++) run[RUN.MMIO_DATA + i] = data[i]!;
  }

  /**
   * The MMIO exit's guest-physical address, read as two halves: V8 runs this code unoptimized
   * (bin/pmemvm.cjs), where a BigInt, or any number beyond 31 bits made by arithmetic, is a new
   * heap object, and garbage on the exit path means collections inside the guest's flushes.
   */
  private mmioAddress(): number {
    return fromHalves(this.runView.getUint32(RUN.MMIO_PHYS_ADDR, true), this.runView.getUint32(RUN.MMIO_PHYS_ADDR + 4, true));
  }
}
