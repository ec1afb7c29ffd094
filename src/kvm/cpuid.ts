/**
 * The CPUID a vCPU sees: what KVM supports, with the topology and
 * hypervisor bits a VMM must fill in (KVM leaves them as the host's).
 */
import { CpuidEntry } from '../sys/kvm-abi.js';

export function vcpuCpuid(supported: CpuidEntry[], apicId: number, cpus: number): CpuidEntry[] {
  return supported.map((src) => {
    const e = { ...src };
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
