/**
 * Where a vCPU is, in one line: registers, the kernel's run state (halted
 * means it waits for an interrupt), and its local APIC's pending and
 * in-service vectors. For a stuck guest: a halted vCPU with nothing pending
 * waits for an interrupt that never came; a vector in service that never
 * ends means a handler that never returned.
 *
 * The ioctls take the vCPU's mutex: call this from the vCPU's own thread, or
 * while it is out of KVM_RUN, else it waits for the vCPU's next exit.
 */
import * as libc from '../sys/libc.js';
import { KVM, LAPIC, MP_STATE_NAMES, decodeRegs, lapicVectors } from '../sys/kvm-abi.js';
import { readCpuRegisters, type CpuRegisters } from './vcpu-registers.js';

/** What the vCPU's thread records at each exit, for the same report. */
export interface VcpuExitTrace { inRun: boolean; exits: number; lastExit: string }

export interface VcpuState {
  rip: bigint; rsp: bigint; rflags: bigint;
  mpState: string;
  irr: number[]; isr: number[]; tpr: number;
  timer: { lvt: number; initial: number; current: number };
  /** An interrupt KVM has injected but the guest has not taken yet, or null. */
  injected: number | null;
  interruptShadow: boolean;
  nmiPending: boolean;
  /** Every register, for the monitor's info registers (absent if KVM would not give them all). */
  registers?: CpuRegisters;
}

export function readVcpuState(fd: number): VcpuState {
  const regsBuf = new Uint8Array(144);
  libc.ioctlBuf(fd, KVM.GET_REGS, regsBuf);
  const r = decodeRegs(regsBuf);
  const mp = new Uint8Array(4);
  libc.ioctlBuf(fd, KVM.GET_MP_STATE, mp);
  const mpIndex = new DataView(mp.buffer).getUint32(0, true);
  const lapic = new Uint8Array(1024);
  libc.ioctlBuf(fd, KVM.GET_LAPIC, lapic);
  const lv = new DataView(lapic.buffer);
  const ev = new Uint8Array(64);
  libc.ioctlBuf(fd, KVM.GET_VCPU_EVENTS, ev);
  // struct kvm_vcpu_events: exception (8 bytes), then interrupt {injected, nr, soft, shadow}, then nmi {injected, pending, ...}.
  return {
    rip: r.rip, rsp: r.rsp, rflags: r.rflags,
    mpState: MP_STATE_NAMES[mpIndex] ?? `state ${mpIndex}`,
    irr: lapicVectors(lapic, LAPIC.IRR), isr: lapicVectors(lapic, LAPIC.ISR), tpr: lv.getUint32(LAPIC.TPR, true),
    timer: { lvt: lv.getUint32(LAPIC.LVT_TIMER, true), initial: lv.getUint32(LAPIC.TIMER_INITIAL, true), current: lv.getUint32(LAPIC.TIMER_CURRENT, true) },
    injected: ev[8] ? ev[9]! : null,
    interruptShadow: ev[11] !== 0,
    nmiPending: ev[13] !== 0,
    ...optionalRegisters(fd),
  };
}

function optionalRegisters(fd: number): { registers?: CpuRegisters } {
  try { return { registers: readCpuRegisters(fd) }; } catch { return {}; }
}

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
const vectors = (v: number[]) => (v.length ? v.map(hex).join(',') : '-');

export function formatVcpuState(index: number, s: VcpuState | string, t: VcpuExitTrace): string {
  const where = `vCPU ${index}: ${t.inRun ? 'in KVM_RUN' : 'out of KVM_RUN'}, ${t.exits} exits to pmemvm, last ${t.lastExit}`;
  if (typeof s === 'string') return `${where}; ${s}`;
  const timer = s.timer.lvt & (1 << 16) ? 'masked' : `vector ${hex(s.timer.lvt & 0xff)} count ${s.timer.current}/${s.timer.initial}`;
  return `${where}; ${s.mpState} rip=${hex(s.rip)} rsp=${hex(s.rsp)} rflags=${hex(s.rflags)} (IF=${(s.rflags >> 9n) & 1n}); ` +
    `lapic irr=${vectors(s.irr)} isr=${vectors(s.isr)} tpr=${hex(s.tpr)} timer ${timer}; ` +
    `injected=${s.injected === null ? '-' : hex(s.injected)}${s.interruptShadow ? ' shadow' : ''}${s.nmiPending ? ' nmi-pending' : ''}`;
}
