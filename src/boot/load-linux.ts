/** Put a Linux kernel, its initrd and command line into guest memory. */
import { UserError } from '../errors.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { buildBootParams } from './boot-params.js';
import { bootRegs, gdtBytes, identityPageTables } from './cpu-state.js';
import { KernelImage } from './kernel-image.js';
import { BOOT_GDT, BOOT_IDT, CMDLINE, CMDLINE_MAX, E820Entry, ZERO_PAGE, splitRam } from './layout.js';
import type { Regs } from '../sys/kvm-abi.js';

export interface LinuxBoot {
  kernel: KernelImage;
  initrd: Uint8Array | null;
  cmdline: string;
  ramSize: number;
  rsdpAddr: number;
  e820: E820Entry[];
}

const PAGE = 4096;

export function loadLinux(mem: GuestMemory, b: LinuxBoot): Partial<Regs> {
  let kernelEnd = 0;
  for (const s of b.kernel.segments) {
    if (!mem.contains(s.gpa, s.memSize)) {
      throw new UserError(`kernel does not fit in guest RAM (needs up to 0x${(s.gpa + s.memSize).toString(16)}); use a larger -m`);
    }
    mem.write(s.gpa, s.data);
    mem.view(s.gpa + s.data.length, s.memSize - s.data.length).fill(0); // .bss
    kernelEnd = Math.max(kernelEnd, s.gpa + s.memSize);
  }

  const cmd = new TextEncoder().encode(b.cmdline);
  const max = Math.min(CMDLINE_MAX - 1, b.kernel.cmdlineMax);
  if (cmd.length > max) throw new UserError(`-append: kernel command line is ${cmd.length} bytes; this kernel accepts at most ${max}`);
  mem.write(CMDLINE, cmd);
  mem.view(CMDLINE + cmd.length, 1)[0] = 0;

  let initrd: { addr: number; size: number } | undefined;
  if (b.initrd) {
    // As high as allowed, page aligned, below the 32-bit hole and initrd_addr_max.
    const { low } = splitRam(b.ramSize);
    const top = Math.min(low, b.kernel.initrdAddrMax + 1);
    const addr = Math.floor((top - b.initrd.length) / PAGE) * PAGE;
    if (addr < kernelEnd) {
      throw new UserError(`initrd (${b.initrd.length} bytes) does not fit in guest RAM above the kernel; use a larger -m`);
    }
    mem.write(addr, b.initrd);
    initrd = { addr, size: b.initrd.length };
  }

  mem.write(ZERO_PAGE, buildBootParams({
    setupHeader: b.kernel.setupHeader, cmdlineAddr: CMDLINE, cmdlineSize: cmd.length,
    initrd, rsdpAddr: b.rsdpAddr, e820: b.e820,
  }));
  mem.write(BOOT_GDT, gdtBytes());
  mem.view(BOOT_IDT, 8).fill(0);
  for (const t of identityPageTables()) mem.write(t.gpa, t.data);
  return bootRegs(b.kernel.entry64);
}
