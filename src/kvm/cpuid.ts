/**
 * The CPUID a vCPU sees: what KVM supports, with the topology and
 * hypervisor bits a VMM must fill in (KVM leaves them as the host's).
 */
import { CpuidEntry } from '../sys/kvm-abi.js';

/**
 * `host` passes through everything KVM supports (-cpu host / max). The
 * default model is conservative like QEMU's default (qemu64): no extended
 * XSAVE state (AVX, AVX-512, PKRU...), so the guest sees what a QEMU guest
 * sees for the same command line, and nested setups whose XSETBV does not
 * reach KVM (QEMU TCG's SVM) stay consistent.
 */
export type CpuModel = 'default' | 'host';

export function vcpuCpuid(supported: CpuidEntry[], apicId: number, cpus: number, model: CpuModel = 'default'): CpuidEntry[] {
  const base = model === 'host' ? supported : supported.filter((e) => e.function !== 0xd);
  return base.map((src) => {
    const e = { ...src };
    if (model === 'default') withoutXsave(e);
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

/**
 * Like qemu64: no XSAVE (the guest uses FXSAVE), so no AVX-family or PKU
 * state either. Under QEMU TCG's nested SVM a guest XSETBV never reaches
 * KVM, which then keeps reloading its own XCR0: XSAVE state breaks there.
 */
function withoutXsave(e: CpuidEntry): void {
  if (e.function === 1) {
    e.ecx &= ~((1 << 26) | (1 << 27) | (1 << 28) | (1 << 12) | (1 << 29)); // XSAVE, OSXSAVE, AVX, FMA, F16C
  } else if (e.function === 7 && e.index === 0) {
    // AVX2, AVX-512 F/DQ/IFMA/PF/ER/CD/BW/VL
    e.ebx &= ~((1 << 5) | (1 << 16) | (1 << 17) | (1 << 21) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 30) | (1 << 31));
    e.ecx &= ~((1 << 1) | (1 << 3) | (1 << 4) | (1 << 6) | (1 << 11) | (1 << 12) | (1 << 14)); // AVX512 VBMI*, PKU, OSPKE, VNNI, BITALG, VPOPCNTDQ
    e.edx &= ~((1 << 2) | (1 << 3) | (1 << 8) | (1 << 23)); // AVX512 4VNNIW/4FMAPS/VP2INTERSECT/FP16
  } else if (e.function === 7 && e.index === 1) {
    e.eax &= ~((1 << 4) | (1 << 5)); // AVX-VNNI, AVX512_BF16
  }
}
