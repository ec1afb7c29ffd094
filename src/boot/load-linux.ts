/** Put a Linux kernel, its initrd and command line into guest memory. */
import { debug } from '../debug.js';
import { UserError } from '../errors.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { buildBootParams } from './boot-params.js';
import { bootRegs, gdtBytes, identityPageTables } from './cpu-state.js';
import { KernelImage } from './kernel-image.js';
import type { ImageFile } from './image-file.js';
import { BOOT_GDT, BOOT_IDT, CMDLINE, CMDLINE_MAX, E820Entry, ZERO_PAGE, splitRam } from './layout.js';
import type { Regs } from '../sys/kvm-abi.js';

export interface LinuxBoot {
  kernel: KernelImage;
  initrd: ImageFile | null;
  cmdline: string;
  ramSize: number;
  rsdpAddr: number;
  e820: E820Entry[];
  /**
   * Guest RAM was mapped just now (anonymous, so all zeros) and nothing has been written where
   * the kernel goes: its zeros (.bss) are then left to the mapping, and their pages untouched
   * until the guest clears them itself.
   */
  ramIsZero?: boolean;
}

const PAGE = 4096;

export function loadLinux(mem: GuestMemory, b: LinuxBoot): Partial<Regs> {
  let kernelEnd = 0;
  for (const s of b.kernel.segments) {
    if (!mem.contains(s.gpa, s.memSize)) {
      throw new UserError(`kernel does not fit in guest RAM (needs up to 0x${(s.gpa + s.memSize).toString(16)}); use a larger -m`);
    }
    readIntoGuest(mem, b.kernel.file, s.offset, s.gpa, s.fileSize);
    if (!b.ramIsZero) mem.view(s.gpa + s.fileSize, s.memSize - s.fileSize).fill(0); // .bss
    kernelEnd = Math.max(kernelEnd, s.gpa + s.memSize);
  }
  debug('kernel in guest RAM');

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
    const size = b.initrd.size;
    const addr = Math.floor((top - size) / PAGE) * PAGE;
    if (addr < kernelEnd) {
      throw new UserError(`initrd (${size} bytes) does not fit in guest RAM above the kernel; use a larger -m`);
    }
    readIntoGuest(mem, b.initrd, 0, addr, size);
    initrd = { addr, size };
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

/** Copy file bytes to guest memory in pieces that never straddle a 1 MiB boundary (nor so a view's limit). */
function readIntoGuest(mem: GuestMemory, file: ImageFile, offset: number, gpa: number, len: number): void {
  const MIB = 1 << 20;
  for (let done = 0; done < len;) {
    const n = Math.min(len - done, MIB - ((gpa + done) % MIB));
    file.readInto(offset + done, mem.view(gpa + done, n));
    done += n;
  }
}
