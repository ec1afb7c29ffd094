/**
 * The CPUID a vCPU sees: what KVM supports, with the topology and
 * hypervisor bits a VMM must fill in (KVM leaves them as the host's).
 */
import { CpuidEntry } from '../sys/kvm-abi.js';
import { apicIdOf, coreShift, packageShift, threadsPerPackage, type CpuTopology } from './cpu-topology.js';

/**
 * `host` passes through everything KVM supports (-cpu host / max). The
 * default model is QEMU's default, qemu64 (see QEMU64 below).
 */
export type CpuModel = 'default' | 'host';

export function vcpuCpuid(supported: CpuidEntry[], index: number, topo: CpuTopology, model: CpuModel = 'default'): CpuidEntry[] {
  // qemu64 has neither XSAVE (leaf 0xD) nor SVM (leaf 0x8000000A), nor leaves past its levels.
  const base = model === 'host' ? supported : supported.filter((e) => e.function !== 0xd && e.function !== 0x8000000a && inQemu64Levels(e.function));
  const intel = isIntel(supported);
  const apicId = apicIdOf(topo, index);
  const perPkg = threadsPerPackage(topo);
  const out = base.filter((e) => e.function !== 0xb).map((src) => {
    const e = { ...src };
    if (model === 'default') qemu64(e);
    switch (e.function) {
      case 1:
        // EBX: initial APIC id [31:24], logical processors per package [23:16] (with HTT, when
        // more than one, as QEMU), CLFLUSH size 8*8.
        e.ebx = ((apicId << 24) | (perPkg > 1 ? (perPkg & 0xff) << 16 : 0) | (8 << 8)) >>> 0;
        e.ecx = (e.ecx | (1 << 31)) >>> 0; // we are a hypervisor guest
        if (perPkg > 1) e.edx = (e.edx | (1 << 28)) >>> 0; // HTT: EBX[23:16] is valid
        break;
      case 0x1f:
        e.edx = apicId; // x2APIC id of this vCPU
        break;
      case 4:
        // EAX[31:26]: cores per package - 1.
        e.eax = ((e.eax & 0x3ff) | ((topo.cores - 1) << 26)) >>> 0;
        e.eax &= ~(0xfff << 14); // threads sharing this cache - 1 = 0
        break;
      case 0xd:
        // Linux enables every supported user feature in XCR0 and checks that
        // EBX (size for the enabled features) matches: report the full size.
        if (e.index === 0) e.ebx = e.ecx;
        break;
      case 6:
        e.ecx &= ~(1 << 3); // no energy-perf bias MSR
        break;
      case 0x80000001:
        // CmpLegacy on a multi-core package, as QEMU (which leaves it off for Intel, whose
        // Linux code would then discard the thread information).
        if (perPkg > 1 && !intel) e.ecx = (e.ecx | (1 << 1)) >>> 0;
        break;
      case 0x80000008:
        // ECX: logical processors in the package - 1 (NC) and the APIC id bits below the
        // package id, as QEMU reports for every vendor; 0 for one. EDX: nothing.
        e.ecx = perPkg > 1 ? ((packageShift(topo) << 12) | (perPkg - 1)) >>> 0 : 0;
        e.edx = 0;
        break;
    }
    return e;
  });
  // Leaf 0xB (x2APIC topology) from -smp, as QEMU builds it, not the host's: the SMT level,
  // the core level, then an invalid level that ends the list.
  if ((out.find((e) => e.function === 0)?.eax ?? 0) >= 0xb) {
    const level = (i: number, shift: number, count: number, type: number): CpuidEntry =>
      ({ function: 0xb, index: i, flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX, eax: shift, ebx: count, ecx: ((type << 8) | i) >>> 0, edx: apicId });
    out.push(level(0, coreShift(topo), topo.threads, 1), level(1, packageShift(topo), perPkg, 2), level(2, 0, 0, 0));
  }
  return out;
}

/** KVM: this leaf's value depends on ECX (the subleaf). */
const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

/** qemu64's levels: basic leaves up to 0xD, extended up to 0x8000000A (QEMU's level and xlevel). */
const QEMU64_LEVEL = 0xd, QEMU64_XLEVEL = 0x8000000a;
const inQemu64Levels = (fn: number) => fn <= QEMU64_LEVEL || (fn >= 0x40000000 && fn < 0x80000000) || (fn >= 0x80000000 && fn <= QEMU64_XLEVEL);

/** GenuineIntel in leaf 0 ("Genu" "ineI" "ntel" in EBX, EDX, ECX). */
function isIntel(supported: CpuidEntry[]): boolean {
  const l0 = supported.find((e) => e.function === 0);
  return l0 !== undefined && l0.ebx === 0x756e6547 && l0.edx === 0x49656e69 && l0.ecx === 0x6c65746e;
}

const bits = (...n: number[]) => n.reduce((m, b) => (m | (1 << b)) >>> 0, 0);

/**
 * QEMU 7.2's qemu64 model, feature by feature (what `-cpu` defaults to), so the
 * guest sees what a QEMU guest sees for the same command line:
 *  - leaf 1 EDX: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2
 *  - leaf 1 ECX: pni cx16 (+ x2apic and hypervisor, which KVM and we add)
 *  - leaf 7: nothing (no erms, smep, clwb...); leaf 0xD: none (no XSAVE, so no AVX or PKU state)
 *  - 0x80000001: syscall nx lm (EDX, with AMD's aliases of leaf 1), lahf_lm 3dnowprefetch (ECX)
 *  - leaf 6: no ARAT; leaf 0x8000000A (SVM features): none
 *  - levels: basic leaves up to 0xD, extended up to 0x8000000A (all zero: no SVM)
 *  - 0x40000001 (KVM's paravirtual features): QEMU's defaults with -accel kvm, kvmclock (both
 *    MSR sets), nopiodelay, asyncpf, steal-time, pv-eoi and the clocksource-stable bit; none
 *    of pv-unhalt (paravirtual spinlocks), pv-tlb-flush, pv-ipi, poll-control,
 *    pv-sched-yield or asyncpf-int, which only `-cpu host` gets; no hints (EDX)
 *  - 0x80000008: 48-bit virtual addresses, since there is no LA57, and QEMU's 40 physical
 *    address bits (fewer if the host has fewer); no EBX features
 * Besides equal views, this keeps guests off paths that QEMU TCG's nested SVM
 * emulates badly or slowly: XSAVE (a guest XSETBV never reaches KVM there)
 * and `rep movsb` copies (ERMS), which TCG runs a byte at a time.
 */
const QEMU64 = {
  leaf1Edx: bits(0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 23, 24, 25, 26, 28 /* HTT, set below when SMP */),
  leaf1Ecx: bits(0, 13, 21, 31),
  ext1Edx: bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 20, 23, 24, 29),
  ext1Ecx: bits(0, 8),
  kvmFeatures: bits(0, 1, 3, 4, 5, 6, 24),
};

function qemu64(e: CpuidEntry): void {
  switch (e.function) {
    case 0:
      e.eax = Math.min(e.eax, QEMU64_LEVEL);
      break;
    case 0x80000000:
      e.eax = Math.min(e.eax, QEMU64_XLEVEL);
      break;
    case 1:
      e.edx &= QEMU64.leaf1Edx;
      e.ecx &= QEMU64.leaf1Ecx;
      break;
    case 7:
      if (e.index === 0) e.eax = 0; // no further subleaves
      e.ebx = e.ecx = e.edx = 0;
      if (e.index !== 0) e.eax = 0;
      break;
    case 0x80000001:
      e.edx &= QEMU64.ext1Edx;
      e.ecx &= QEMU64.ext1Ecx;
      break;
    case 6:
      e.eax = 0; // no ARAT, turbo or HWP
      break;
    case 0x40000001:
      e.eax &= QEMU64.kvmFeatures;
      e.edx = 0;
      break;
    case 0x80000008:
      e.eax = (48 << 8) | Math.min(e.eax & 0xff, 40);
      e.ebx = 0; // no IBPB, WBNOINVD...
      break;
  }
}
