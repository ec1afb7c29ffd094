/** /dev/kvm itself: API version, capabilities, supported CPUID. */
import { existsSync, readFileSync } from 'node:fs';
import * as libc from '../sys/libc.js';
import { CAP, CpuidEntry, KVM, KVM_API_VERSION, cpuidBuffer, decodeCpuid } from '../sys/kvm-abi.js';
import { UserError } from '../errors.js';

export const TEST_HOST_HINT = 'run it inside the test host: `node dist/testhost/entry.js run -- pmemvm ...` (or `npm start`)';

/**
 * Why this host cannot run guests at useful speed, or null if it can.
 * A PVM /dev/kvm (kvm_pvm) emulates guests one instruction at a time.
 */
export function hardwareVirtProblem(): string | null {
  if (existsSync('/sys/module/kvm_pvm')) return '/dev/kvm is a PVM nested hypervisor (kvm_pvm) without hardware virtualization';
  const flags = readFileSync('/proc/cpuinfo', 'utf8');
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(flags)) return 'the CPU has no hardware virtualization (no vmx or svm in /proc/cpuinfo)';
  return null;
}

export class KvmSystem {
  readonly fd: number;
  readonly vcpuMmapSize: number;

  constructor(path = '/dev/kvm') {
    try {
      this.fd = libc.open(path, libc.O_RDWR);
    } catch (e) {
      const code = e instanceof libc.SysError ? e.code : String(e);
      throw new UserError(`cannot open ${path}: ${code} (is KVM available and are you allowed to use it?)`);
    }
    const api = libc.ioctl(this.fd, KVM.GET_API_VERSION);
    if (api !== KVM_API_VERSION) throw new UserError(`${path}: KVM API version ${api}, need ${KVM_API_VERSION}`);
    for (const [name, cap] of Object.entries({ IRQCHIP: CAP.IRQCHIP, USER_MEMORY: CAP.USER_MEMORY, PIT2: CAP.PIT2, EXT_CPUID: CAP.EXT_CPUID })) {
      if (this.checkExtension(cap) <= 0) throw new UserError(`${path}: KVM lacks the ${name} capability pmemvm needs`);
    }
    this.vcpuMmapSize = libc.ioctl(this.fd, KVM.GET_VCPU_MMAP_SIZE);
  }

  checkExtension(cap: number): number { return libc.ioctl(this.fd, KVM.CHECK_EXTENSION, cap); }

  supportedCpuid(): CpuidEntry[] {
    for (let max = 128; ; max *= 2) {
      const buf = cpuidBuffer(max);
      try {
        libc.ioctlBuf(this.fd, KVM.GET_SUPPORTED_CPUID, buf);
        return decodeCpuid(buf);
      } catch (e) {
        if (e instanceof libc.SysError && e.errno === libc.ERRNO.E2BIG && max < 4096) continue;
        throw e;
      }
    }
  }

  createVmFd(): number { return libc.ioctl(this.fd, KVM.CREATE_VM, 0); }
}
