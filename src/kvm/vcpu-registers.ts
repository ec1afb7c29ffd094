/**
 * Every register of a vCPU that the monitor's `info registers` shows, read from KVM as
 * QEMU reads it (regs, sregs, XSAVE for x87, SSE and the AVX halves, XCR0, debug registers,
 * events for the interrupt shadow, MP state for HLT).
 *
 * The ioctls take the vCPU's mutex: call this from the vCPU's own thread, or while it
 * is out of KVM_RUN, else it waits for the vCPU's next exit.
 */
import * as libc from '../sys/libc.js';
import { KVM, MP_STATE_NAMES, Sregs, decodeRegs, type Regs, type Segment, type SegName } from '../sys/kvm-abi.js';

export interface CpuRegisters {
  regs: Regs;
  segs: Record<SegName, Segment>;
  gdt: { base: bigint; limit: number };
  idt: { base: bigint; limit: number };
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; efer: bigint;
  /** DR0-DR3, DR6, DR7. */
  dr: bigint[];
  fcw: number; fsw: number;
  /** The abridged tag word (FXSAVE's: a bit per register, 1 = in use). */
  ftw: number;
  mxcsr: number;
  /** x87 registers as FXSAVE stores them: 64-bit mantissa and 16-bit sign+exponent. */
  fpr: { mantissa: bigint; exponent: number }[];
  /** Vector registers as little-endian 64-bit words: 2 (XMM), 4 (YMM) or 8 (ZMM) each. */
  vectors: bigint[][];
  /** AVX-512 mask registers k0-k7, when XCR0 enables them. */
  opmask: bigint[];
  xcr0: bigint;
  halted: boolean;
  interruptShadow: boolean;
}

const XSTATE_YMM = 1n << 2n;
const XSTATE_AVX512 = 7n << 5n; // opmask, ZMM_Hi256, Hi16_ZMM
/** Offsets in FXSAVE's legacy area, the first 512 bytes of an XSAVE area. */
const FXSAVE = { fcw: 0, fsw: 2, ftw: 4, mxcsr: 24, st: 32, xmm: 160 } as const;
/** Offsets in the standard (non-compacted) XSAVE area, which is what KVM_GET_XSAVE gives. */
const XSAVE = { ymmHi: 576, opmask: 1088, zmmHi256: 1152, hi16Zmm: 1664 } as const;

function q(v: DataView, o: number): bigint { return v.getBigUint64(o, true); }

export function readCpuRegisters(fd: number): CpuRegisters {
  const rb = new Uint8Array(144);
  libc.ioctlBuf(fd, KVM.GET_REGS, rb);
  const s = new Sregs();
  libc.ioctlBuf(fd, KVM.GET_SREGS, s.bytes);
  const names: SegName[] = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'];
  const segs = Object.fromEntries(names.map((n) => [n, s.segment(n)])) as Record<SegName, Segment>;

  // struct kvm_debugregs: db[4], dr6, dr7.
  const dbg = new DataView(new ArrayBuffer(128));
  libc.ioctlBuf(fd, KVM.GET_DEBUGREGS, new Uint8Array(dbg.buffer));
  const dr = [0, 8, 16, 24, 32, 40].map((o) => q(dbg, o));

  // The XSAVE area, standard format: its first 512 bytes are FXSAVE's (KVM_GET_FPU leaves MXCSR out).
  const x = new DataView(new ArrayBuffer(4096));
  libc.ioctlBuf(fd, KVM.GET_XSAVE, new Uint8Array(x.buffer));
  const fpr = Array.from({ length: 8 }, (_, i) => ({ mantissa: q(x, FXSAVE.st + i * 16), exponent: x.getUint16(FXSAVE.st + i * 16 + 8, true) }));
  const xmm = Array.from({ length: 16 }, (_, i) => [q(x, FXSAVE.xmm + i * 16), q(x, FXSAVE.xmm + i * 16 + 8)]);

  // XCR0 says which wider halves the guest uses (none where KVM has no XCRs to give).
  let xcr0 = 0n;
  try {
    const xcrs = new DataView(new ArrayBuffer(392));
    libc.ioctlBuf(fd, KVM.GET_XCRS, new Uint8Array(xcrs.buffer));
    for (let i = 0; i < Math.min(xcrs.getUint32(0, true), 16); i++) if (xcrs.getUint32(8 + i * 16, true) === 0) xcr0 = q(xcrs, 16 + i * 16);
  } catch { /* no XCRs: XMM only */ }
  let vectors: bigint[][] = xmm;
  let opmask: bigint[] = [];
  if (xcr0 & XSTATE_YMM) vectors = xmm.map((v, i) => [...v, q(x, XSAVE.ymmHi + i * 16), q(x, XSAVE.ymmHi + i * 16 + 8)]);
  if ((xcr0 & XSTATE_AVX512) === XSTATE_AVX512 && xcr0 & XSTATE_YMM) {
    opmask = Array.from({ length: 8 }, (_, i) => q(x, XSAVE.opmask + i * 8));
    const upper = (i: number) => [0, 8, 16, 24].map((o) => q(x, XSAVE.zmmHi256 + i * 32 + o));
    const high16 = Array.from({ length: 16 }, (_, i) => [0, 8, 16, 24, 32, 40, 48, 56].map((o) => q(x, XSAVE.hi16Zmm + i * 64 + o)));
    vectors = [...vectors.map((v, i) => [...v, ...upper(i)]), ...high16];
  }

  const mp = new Uint8Array(4);
  libc.ioctlBuf(fd, KVM.GET_MP_STATE, mp);
  const ev = new Uint8Array(64);
  libc.ioctlBuf(fd, KVM.GET_VCPU_EVENTS, ev);
  return {
    regs: decodeRegs(rb), segs, gdt: s.dtable('gdt'), idt: s.dtable('idt'),
    cr0: s.get('cr0'), cr2: s.get('cr2'), cr3: s.get('cr3'), cr4: s.get('cr4'), efer: s.get('efer'), dr,
    fcw: x.getUint16(FXSAVE.fcw, true), fsw: x.getUint16(FXSAVE.fsw, true), ftw: x.getUint8(FXSAVE.ftw), mxcsr: x.getUint32(FXSAVE.mxcsr, true),
    fpr, vectors, opmask, xcr0,
    halted: MP_STATE_NAMES[new DataView(mp.buffer).getUint32(0, true)] === 'halted',
    interruptShadow: ev[11] !== 0,
  };
}
