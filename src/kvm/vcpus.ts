/**
 * The main-thread side of the vCPUs: creates them, loads their boot state,
 * runs each in a worker thread, serves their I/O exits from the buses, and
 * stops them by kicking every thread out of KVM_RUN before joining.
 */
import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../lazy-builtins.js';
import * as libc from '../sys/libc.js';
import { UserError } from '../errors.js';
import { CpuidEntry, EXIT, KVM, RUN, Regs, Sregs, decodeRegs, encodeCpuid, encodeDefaultFpu, encodeMsrs, encodeRegs } from '../sys/kvm-abi.js';
import { bootMsrs, longModeSregs } from '../boot/cpu-state.js';
import { CpuModel, vcpuCpuid } from './cpuid.js';
import { apicIdOf, type CpuTopology } from './cpu-topology.js';
import { Vm } from './vm.js';
import { VcpuLoop, type LoopResult } from './vcpu-loop.js';
import { debug, debugOn } from '../debug.js';
import { PciConfigShared } from './pci-config-fastpath.js';
import {
  ADDR_HI, ADDR_LO, COUNT, DUMP, EXITS, IN_RUN, IS_WRITE, KIND, KIND_PIO, LAST_ADDR, LAST_REASON, LAST_WRITE, PAUSE, PAUSED, REQUEST, RESPONSE, SIZE, STATE, STOP,
  VcpuChannel, VcpuEvent, VcpuWorkerData,
} from './vcpu-channel.js';
import { formatVcpuState, readVcpuState, type VcpuExitTrace, type VcpuState } from './vcpu-state.js';
import type { CpuRegisters } from './vcpu-registers.js';
import { runMainThreadWork } from './main-thread-work.js';
import { planSlice, takeShortSlice } from './slice-share.js';
import { monotonicMs } from '../clock.js';

/** A bus as the exit handler sees it: little-endian bytes at an address. */
export interface ExitBus {
  readInto(addr: number, out: Uint8Array): void;
  writeFrom(addr: number, data: Uint8Array): void;
}
/** The MMIO bus also takes an address as KVM's exit gives it: two signed 32-bit halves (IoBus.findHalves). */
export interface MmioExitBus extends ExitBus {
  readIntoHalves(lo: number, hi: number, out: Uint8Array): void;
  writeFromHalves(lo: number, hi: number, data: Uint8Array): void;
}
/** What the vCPUs need from the machine: the port and MMIO buses. */
export interface ExitHandler { pio: ExitBus; mmio: MmioExitBus }

export type VcpuStopReason =
  | { kind: 'shutdown' }                 // triple fault
  | { kind: 'system-event'; event: number }
  | { kind: 'fatal'; message: string };

interface Vcpu { fd: number; runAddr: bigint; ch: VcpuChannel; worker?: Worker; thread?: bigint; tid?: number; running: boolean }

let kickInstalled = false;

export class Vcpus {
  private vcpus: Vcpu[] = [];
  private stopping = false;
  private exited: Promise<void>[] = [];
  /** PCI config latch and device presence, shared with the vCPU threads. */
  readonly pci: PciConfigShared;
  /** Called once, for the first vCPU that stops on its own. */
  onStop: (why: VcpuStopReason) => void = () => {};
  /** A flush-hint fdatasync failed (the vCPU goes on). */
  onFlushError: (slot: number, errno: number) => void = () => {};

  constructor(private vm: Vm, count: number, topology: CpuTopology, supportedCpuid: CpuidEntry[], bootRegs: Partial<Regs>,
              private bus: ExitHandler, cpuModel: CpuModel = 'default', private ignoredOutPorts: number[] = [0x80],
              pci: PciConfigShared = new PciConfigShared(), private readonly hintSab?: SharedArrayBuffer) {
    this.pci = pci;
    if (!kickInstalled) {
      libc.installKickHandler(libc.kickSignal());
      libc.installKickHandler(libc.workSignal());
      libc.installKickHandler(libc.timerSignal());
      kickInstalled = true;
    }
    const runSize = vm.kvm.vcpuMmapSize;
    for (let i = 0; i < count; i++) {
      const fd = vm.createVcpuFd(apicIdOf(topology, i)); // KVM's vCPU id is its initial APIC id
      const runAddr = libc.mmap(runSize, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd, 0);
      libc.ioctlBuf(fd, KVM.SET_CPUID2, encodeCpuid(vcpuCpuid(supportedCpuid, i, topology, cpuModel)));
      libc.ioctlBuf(fd, KVM.SET_MSRS, encodeMsrs(bootMsrs()));
      libc.ioctlBuf(fd, KVM.SET_FPU, encodeDefaultFpu());
      if (i === 0) {
        // Only the boot processor starts in long mode; the others wait for
        // INIT/SIPI from the guest, as on a real PC (the in-kernel LAPIC does that).
        const s = new Sregs();
        libc.ioctlBuf(fd, KVM.GET_SREGS, s.bytes);
        longModeSregs(s);
        libc.ioctlBuf(fd, KVM.SET_SREGS, s.bytes);
        libc.ioctlBuf(fd, KVM.SET_REGS, encodeRegs(bootRegs));
      }
      this.vcpus.push({ fd, runAddr, ch: new VcpuChannel(), running: false });
    }
  }

  /**
   * vCPU 0 runs on the main thread, in slices between event-loop turns: a
   * worker isolate costs about half a second to start under emulation, and every
   * exit it forwards costs two thread switches. The others run in workers.
   * `whileWorkersStart` is called before their start, and what it returns once
   * every one is about to enter KVM_RUN (the machine sets V8's flags around it).
   */
  start(whileWorkersStart: () => () => void = () => () => {}): void {
    const url = new URL('./vcpu-worker.js', import.meta.url);
    const main = this.vcpus[0];
    const started: Promise<void>[] = [];
    const afterWorkersStart = this.vcpus.length > 1 ? whileWorkersStart() : () => {};
    this.vcpus.forEach((v, index) => {
      if (index === 0) return;
      const data: VcpuWorkerData = {
        index, fd: v.fd, runAddr: v.runAddr, runSize: this.vm.kvm.vcpuMmapSize, sab: v.ch.sab,
        kickSignal: libc.kickSignal(), ignoredOutPorts: this.ignoredOutPorts, pciSab: this.pci.sab,
        ...(this.hintSab ? { hintSab: this.hintSab } : {}),
        mainKick: { runAddr: main.runAddr, thread: libc.pthreadSelf() },
      };
      const w = new (workerThreads().Worker)(url, { workerData: data });
      v.worker = w;
      v.running = true;
      w.on('message', (e: VcpuEvent) => this.event(e));
      w.on('error', (err) => this.stopped(index, { kind: 'fatal', message: `vCPU ${index} thread: ${err.message}` }));
      this.exited.push(new Promise((res) => w.once('exit', () => { v.running = false; res(); })));
      started.push(new Promise((res) => {
        const up = (e: VcpuEvent) => { if (e.type === 'started') res(); };
        w.on('message', up);
        w.once('exit', () => res());
      }));
      void this.serve(v);
    });
    // The guest starts once every other vCPU's thread is about to enter KVM_RUN. A worker's
    // isolate takes seconds to start in the test host: meanwhile the boot processor sat in
    // Linux's wait for the AP (do_boot_cpu() calling schedule() for up to 10 s; 5 s seen),
    // where the test host's emulated SVM now and then delivered a timer interrupt with IF=0
    // and the guest deadlocked on its runqueue lock (-smp 2 boots hung 1 in 8 there).
    this.runOnMainThread(main, Promise.all(started).then(afterWorkersStart));
  }

  /**
   * The longest the main thread's vCPU stays in KVM_RUN before the event loop
   * runs (console input, device threads' messages). Output lines do not wait for
   * it (see requestYield), signals such as SIGTERM interrupt KVM_RUN themselves, and
   * worker vCPUs kick for their requests. Each of these wake-ups costs about
   * 0.8 ms in the test host, where a boot lasts about 10 s. PMEMVM_SLICE_MS sets
   * another length (tests: with a slice of minutes, what answers did not wait for one).
   */
  static readonly SLICE_MS = 50;
  /** The slice length in ms: PMEMVM_SLICE_MS (1 to 3600000) or SLICE_MS; a UserError for anything else. */
  static sliceMs(): number {
    const v = process.env.PMEMVM_SLICE_MS;
    if (v === undefined) return Vcpus.SLICE_MS;
    const ms = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!(ms >= 1 && ms <= 3_600_000)) throw new UserError(`PMEMVM_SLICE_MS=${v}: give vCPU 0's time slice in milliseconds, 1 to 3600000 (default ${Vcpus.SLICE_MS})`);
    return ms;
  }
  private yieldWanted = false;

  /** Let the event loop run as soon as the current exit is handled (e.g. console output is waiting). */
  requestYield(): void { this.yieldWanted = true; }

  private runOnMainThread(v: Vcpu, othersStarted: Promise<unknown>): void {
    const sig = libc.kickSignal(), workSig = libc.workSignal(), timerSig = libc.timerSignal(), inputSig = libc.inputSignal();
    // These signals stay blocked on this thread except inside KVM_RUN (KVM_SET_SIGNAL_MASK),
    // so one that lands while JavaScript runs (monitor input, the slice timer, a device
    // completion) is not lost in a handler: it stays pending and makes the next KVM_RUN
    // return at once. Each slice then takes one (takeSignal), and every pending kick when
    // that one is a kick, monitor input or the timer. A slice that is the guest's own
    // (planSlice) runs with monitor input blocked; worker vCPUs' kicks, which are the
    // guest's own I/O, still end it.
    for (const s of [sig, workSig, timerSig, inputSig]) libc.blockSignal(s);
    const kvmMask = (open: number[]) => {
      const inGuest = libc.threadSignalMask();
      for (const s of open) inGuest[(s - 1) >> 3]! &= ~(1 << ((s - 1) & 7));
      const mask = new Uint8Array(12);
      new DataView(mask.buffer).setUint32(0, 8, true);
      mask.set(inGuest, 4);
      return mask;
    };
    const inputOpen = kvmMask([sig, workSig, timerSig, inputSig]), inputHeld = kvmMask([sig, workSig, timerSig]);
    const sliceSignals = libc.signalSet(sig, workSig, timerSig, inputSig);
    libc.ioctlBuf(v.fd, KVM.SET_SIGNAL_MASK, inputOpen);
    let input = true;
    v.thread = libc.pthreadSelf();
    v.tid = libc.gettid();
    v.running = true;
    const loop = new VcpuLoop(
      { index: 0, fd: v.fd, runAddr: v.runAddr, runSize: this.vm.kvm.vcpuMmapSize, ch: v.ch, pci: this.pci, ignoredOutPorts: this.ignoredOutPorts,
        ...(this.hintSab ? { hintSab: this.hintSab } : {}) },
      () => this.access(v.ch),
      (e) => this.event(e),
      () => this.yieldWanted,
    );
    const sliceMs = Vcpus.sliceMs();
    const timer = libc.threadTimer(timerSig, sliceMs);
    let done!: () => void;
    this.exited.push(new Promise<void>((res) => { done = res; }));
    /** When vCPU 0 last went to the event loop: the main thread has worked for others since. */
    let left = monotonicMs();
    const slice = () => {
      // An expiry from before this slice would end it at once: the timer starts over.
      libc.drainSignal(timerSig);
      const plan = planSlice(sliceMs, takeShortSlice(), monotonicMs() - left);
      timer.expireIn(plan.ms);
      if (plan.input !== input) { libc.ioctlBuf(v.fd, KVM.SET_SIGNAL_MASK, plan.input ? inputOpen : inputHeld); input = plan.input; }
      for (;;) {
        const r = loop.loop(true);
        // One signal per slice: any other still pending makes the next KVM_RUN return at once.
        const taken = libc.takeSignal(sliceSignals);
        const turn = taken !== 0 && taken !== workSig;
        if (turn) { libc.drainSignal(sig); libc.drainSignal(inputSig); } // the event-loop turn below serves every kick and input
        const worked = runMainThreadWork();
        const yieldWanted = this.yieldWanted;
        this.yieldWanted = false;
        // A worker vCPU may have kicked us for a request: serve it now rather than a turn later.
        for (const w of this.vcpus) if (w !== v) this.serveNow(w);
        if (r !== 'interrupted') return sliceEnded(r);
        // Only the main thread's own device work (an io_uring completion) took vCPU 0 out,
        // and it is done: back into the guest without an event-loop turn, which costs about
        // as much as the rest of a virtio-pmem flush in the test host. Anything else that
        // needs the loop kicks (the slice timer, monitor input, worker vCPUs' requests).
        if (worked && !turn && !yieldWanted) continue;
        left = monotonicMs(); // here, not after each exit: the flush path's continue reads no clock
        setImmediate(slice);
        return;
      }
    };
    const sliceEnded = (r: Exclude<LoopResult, 'interrupted'>) => {
      // The guest wrote a flush hint: vCPU 0 stays out of the guest until the flush is done;
      // the event loop (the monitor, other vCPUs' requests) goes on meanwhile.
      // (Straight back into the guest when it is done: a setImmediate hop would add to every fsync.)
      // (Waiting for the flush is not work for others: it does not make the next slice the guest's own.)
      if (r === 'flushing') { void loop.pendingFlush!.then(() => { left = monotonicMs(); slice(); }); return; }
      if (r === 'paused') {
        // Kicks still come while parked (monitor input, device completions): take them now and then.
        // (The timer's one pending expiry is dropped when the next slice starts.)
        const drain = setInterval(() => { for (const s of [sig, workSig, inputSig]) libc.drainSignal(s); }, 1000);
        this.resumeMain = () => { clearInterval(drain); left = monotonicMs(); setImmediate(slice); };
        return;
      }
      timer.stop();
      v.running = false;
      done();
    };
    // One event-loop turn with its I/O poll before the first KVM_RUN: a kick that came before
    // the signals were blocked above (a monitor client connecting while the machine was built)
    // ran a no-op handler and is gone, but its socket is ready, and this poll serves it. An
    // immediate queued from an immediate runs after the next poll.
    void othersStarted.then(() => {
      debug('vCPU 0 running on the main thread');
      left = monotonicMs(); // waiting for the workers to start was no work for others
      setImmediate(() => setImmediate(slice));
    });
  }

  /** Each vCPU's host thread id (query-cpus-fast), once its thread runs; vCPU 0's is the main thread's. */
  threadIds(): (number | undefined)[] { return this.vcpus.map((v) => v.tid); }

  /** Set while vCPU 0 is parked by pause(): schedules its next slice. */
  private resumeMain: (() => void) | null = null;
  private pausedFlag = false;

  get paused(): boolean { return this.pausedFlag; }

  /**
   * Take every vCPU out of the guest and keep it out (the monitor's 'stop';
   * before start(), the vCPUs start paused: -S). Resolves once each worker
   * vCPU has left KVM_RUN; a request it has in hand is served first. vCPU 0
   * is out already: this runs on its thread, between slices.
   */
  async pause(): Promise<void> {
    if (this.pausedFlag) return;
    this.pausedFlag = true;
    for (const v of this.vcpus) Atomics.store(v.ch.ctl, PAUSE, 1);
    const workers = this.vcpus.slice(1);
    for (const v of workers) this.poke(v);
    await Promise.all(workers.map(async (v) => {
      const ctl = v.ch.ctl;
      while (v.running && !Atomics.load(ctl, PAUSED)) {
        const w = Atomics.waitAsync(ctl, PAUSED, 0, 100);
        if (w.async) await w.value;
      }
    }));
  }

  /** Let every vCPU run again after pause(). */
  resume(): void {
    if (!this.pausedFlag) return;
    this.pausedFlag = false;
    for (const v of this.vcpus) {
      Atomics.store(v.ch.ctl, PAUSE, 0);
      Atomics.notify(v.ch.ctl, PAUSE);
    }
    const go = this.resumeMain;
    this.resumeMain = null;
    go?.();
  }

  private event(e: VcpuEvent): void {
    const v = this.vcpus[e.index];
    switch (e.type) {
      case 'started':
        v.thread = e.thread;
        v.tid = e.tid;
        debug(`vCPU ${e.index} thread running`);
        if (this.stopping) this.kick(v);
        break;
      case 'stopped': break;
      case 'state': {
        // One answer serves every request in flight for this vCPU (two monitors may ask at once).
        const waiting = this.stateWaiters.get(e.index) ?? [];
        this.stateWaiters.delete(e.index);
        for (const w of waiting) w(e.state);
        break;
      }
      case 'shutdown': this.stopped(e.index, { kind: 'shutdown' }); break;
      case 'system-event': this.stopped(e.index, { kind: 'system-event', event: e.event }); break;
      case 'fatal': this.stopped(e.index, { kind: 'fatal', message: `vCPU ${e.index}: ${e.message}` }); break;
      case 'flush-error': this.onFlushError(e.slot, e.errno); break;
    }
  }

  private reported = false;
  private stopped(_index: number, why: VcpuStopReason): void {
    if (this.reported || this.stopping) return;
    this.reported = true;
    this.onStop(why);
  }

  /** Serve one vCPU's exits until its thread is gone. */
  private async serve(v: Vcpu): Promise<void> {
    const ctl = v.ch.ctl;
    while (v.running) {
      const s = Atomics.load(ctl, STATE);
      if (s !== REQUEST) {
        const w = Atomics.waitAsync(ctl, STATE, s, 200);
        if (w.async) await w.value;
        continue;
      }
      this.serveNow(v);
    }
  }

  /** Perform a worker vCPU's pending request, if there is one. */
  private serveNow(v: Vcpu): void {
    const ctl = v.ch.ctl;
    if (Atomics.load(ctl, STATE) !== REQUEST) return;
    this.access(v.ch);
    Atomics.store(ctl, STATE, RESPONSE);
    Atomics.notify(ctl, STATE);
  }

  /** PMEMVM_EXIT_STATS=1: exits that reached a device model, by bus and address, printed when the vCPUs stop. */
  private readonly exitStats = process.env.PMEMVM_EXIT_STATS ? new Map<string, number>() : null;

  private access(ch: VcpuChannel): void {
    const ctl = ch.ctl, size = ctl[SIZE]!, write = ctl[IS_WRITE] === 1;
    if (this.exitStats) {
      const key = `${ctl[KIND] === KIND_PIO ? 'pio' : 'mmio'} 0x${ch.addr.toString(16)} ${write ? 'w' : 'r'}${size}`;
      this.exitStats.set(key, (this.exitStats.get(key) ?? 0) + 1);
    }
    if (ctl[KIND] !== KIND_PIO) {
      // MMIO: by the address's halves, with no heap number for an address past 2 GiB (IoBus.findHalves).
      const bytes = ch.bytes(0, size), lo = ctl[ADDR_LO]!, hi = ctl[ADDR_HI]!;
      if (write) this.bus.mmio.writeFromHalves(lo, hi, bytes); else this.bus.mmio.readIntoHalves(lo, hi, bytes);
      return;
    }
    // String I/O (rep outs/ins) repeats the access at the same port.
    const bus = this.bus.pio, port = ch.addr;
    for (let i = 0; i < ctl[COUNT]!; i++) {
      const bytes = ch.bytes(i, size);
      if (write) bus.writeFrom(port, bytes); else bus.readInto(port, bytes);
    }
  }

  private readonly stateWaiters = new Map<number, ((s: VcpuState | string) => void)[]>();

  /**
   * One line per vCPU saying where it is (see vcpu-state.ts). Called from the
   * event loop, so vCPU 0 is out of KVM_RUN and read here; a worker vCPU is
   * poked out of KVM_RUN and reads its own state (it may be waiting for us).
   */
  async describe(): Promise<string[]> {
    return Promise.all(this.vcpus.map(async (v, index) => {
      const { trace, state } = await this.stateOf(v, index);
      return formatVcpuState(index, state, trace);
    }));
  }

  /** Each vCPU's registers (the monitor's info registers), or why they could not be read. */
  async registers(): Promise<(CpuRegisters | string)[]> {
    return Promise.all(this.vcpus.map(async (v, index) => {
      const { state } = await this.stateOf(v, index);
      return typeof state === 'string' ? state : state.registers ?? 'KVM did not give every register';
    }));
  }

  private async stateOf(v: Vcpu, index: number): Promise<{ trace: VcpuExitTrace; state: VcpuState | string }> {
    const ctl = v.ch.ctl;
    const write = ctl[LAST_WRITE] ? 'write' : 'read';
    const reason = ctl[LAST_REASON]!;
    const at = reason === EXIT.IO ? ` port 0x${(ctl[LAST_ADDR]! & 0xffff).toString(16)} ${write}` : reason === EXIT.MMIO ? ` mmio 0x${(ctl[LAST_ADDR]! >>> 0).toString(16)} ${write}` : '';
    const trace: VcpuExitTrace = { inRun: ctl[IN_RUN] === 1, exits: ctl[EXITS]! >>> 0, lastExit: `exit reason ${reason}${at}` };
    if (!v.running) return { trace, state: 'thread not running' };
    // vCPU 0 is out of KVM_RUN while this (the event loop) runs; a paused worker waits outside it.
    if (index === 0 || Atomics.load(ctl, PAUSED)) {
      try { return { trace, state: readVcpuState(v.fd) }; } catch (e) { return { trace, state: (e as Error).message }; }
    }
    const state = await new Promise<VcpuState | string>((res) => {
      const waiter = (s: VcpuState | string) => { clearTimeout(timer); res(s); };
      const timer = setTimeout(() => {
        const left = this.stateWaiters.get(index)?.filter((w) => w !== waiter) ?? [];
        if (left.length) this.stateWaiters.set(index, left); else this.stateWaiters.delete(index);
        res('no answer within 1 s (the thread is not in KVM_RUN: waiting for a request to be served?)');
      }, 1000);
      this.stateWaiters.set(index, [...(this.stateWaiters.get(index) ?? []), waiter]);
      Atomics.store(ctl, DUMP, 1);
      this.poke(v);
    });
    return { trace, state };
  }

  /** Make a vCPU thread leave KVM_RUN once (it goes on running). */
  private poke(v: Vcpu): void {
    new Uint8Array(libc.view(v.runAddr, 8))[RUN.IMMEDIATE_EXIT] = 1;
    if (v.thread !== undefined && v.running) {
      try { libc.pthreadKill(v.thread, libc.kickSignal()); } catch { /* thread already gone */ }
    }
  }

  private kick(v: Vcpu): void {
    Atomics.store(v.ch.ctl, STOP, 1);
    Atomics.notify(v.ch.ctl, PAUSE); // a paused worker wakes up to see STOP
    this.poke(v);
    // A parked vCPU 0 has no slice pending: run one, which sees STOP and ends.
    const go = this.resumeMain;
    this.resumeMain = null;
    go?.();
  }

  /** Make every vCPU leave KVM_RUN and stay out (the machine has ended); `stop` then joins them. */
  halt(): void { this.vcpus.forEach((v) => this.kick(v)); }

  /** Stop every vCPU and wait for the threads to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    debug(`stopping ${this.vcpus.length} vCPUs (running: ${this.vcpus.map((v) => v.running).join(',')})`);
    // Kick repeatedly until all have left: a kick can land just before a
    // thread re-enters KVM_RUN, which immediate_exit then catches.
    const timer = setInterval(() => this.vcpus.forEach((v) => this.kick(v)), 20);
    this.vcpus.forEach((v) => this.kick(v));
    await Promise.all(this.exited);
    clearInterval(timer);
    if (this.exitStats) {
      const top = [...this.exitStats].sort((a, b) => b[1] - a[1]);
      process.stderr.write(`pmemvm: exit stats (main-thread exits by address):\n${top.map(([k, n]) => `  ${String(n).padStart(7)}  ${k}`).join('\n')}\n`);
    }
    debug('all vCPU threads joined');
    if (debugOn) {
      for (const [i, v] of this.vcpus.entries()) {
        const regs = new Uint8Array(144);
        libc.ioctlBuf(v.fd, KVM.GET_REGS, regs);
        const r = decodeRegs(regs);
        debug(`vCPU ${i}: rip=0x${r.rip.toString(16)} rsp=0x${r.rsp.toString(16)} rflags=0x${r.rflags.toString(16)}`);
      }
    }
    for (const v of this.vcpus) {
      libc.munmap(v.runAddr, this.vm.kvm.vcpuMmapSize);
      libc.close(v.fd);
    }
    this.vcpus = [];
  }
}
