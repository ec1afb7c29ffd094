/**
 * The CPUID a vCPU sees: what KVM supports, with the topology and
 * hypervisor bits a VMM must fill in (KVM leaves them as the host's).
 */
import { CpuidEntry } from '../sys/kvm-abi.js';

/**
 * `host` passes through everything KVM supports (-cpu host / max). The
 * default model is QEMU's default, qemu64 (see QEMU64 below).
 */
export type CpuModel = 'default' | 'host';

export function vcpuCpuid(supported: CpuidEntry[], apicId: number, cpus: number, model: CpuModel = 'default'): CpuidEntry[] {
  // qemu64 has neither XSAVE (leaf 0xD) nor SVM (leaf 0x8000000A).
  const base = model === 'host' ? supported : supported.filter((e) => e.function !== 0xd && e.function !== 0x8000000a);
  return base.map((src) => {
    const e = { ...src };
    if (model === 'default') qemu64(e);
    switch (e.function) {
      case 1:
        // EBX: initial APIC id [31:24], logical processors per package [23:16], CLFLUSH size 8*8.
        e.ebx = ((apicId << 24) | ((cpus & 0xff) << 16) | (8 << 8)) >>> 0;
        e.ecx = (e.ecx | (1 << 31)) >>> 0; // we are a hypervisor guest
        if (cpus > 1) e.edx = (e.edx | (1 << 28)) >>> 0; // HTT: EBX[23:16] is valid
        break;
      case 0xb:
      case 0x1f:
        e.edx = apicId; // x2APIC id of this vCPU
        break;
      case 4:
        // EAX[31:26]: cores per package - 1; one core per vCPU, one thread per core.
        e.eax = ((e.eax & 0x3ff) | ((cpus - 1) << 26)) >>> 0;
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
    }
    return e;
  });
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
 * Besides equal views, this keeps guests off paths that QEMU TCG's nested SVM
 * emulates badly or slowly: XSAVE (a guest XSETBV never reaches KVM there)
 * and `rep movsb` copies (ERMS), which TCG runs a byte at a time.
 */
const QEMU64 = {
  leaf1Edx: bits(0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 23, 24, 25, 26, 28 /* HTT, set below when SMP */),
  leaf1Ecx: bits(0, 13, 21, 31),
  ext1Edx: bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 20, 23, 24, 29),
  ext1Ecx: bits(0, 8),
};

function qemu64(e: CpuidEntry): void {
  switch (e.function) {
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
  }
}
