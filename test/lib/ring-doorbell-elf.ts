// A 180-byte static x86-64 Linux program for the guest: ioperm() the NVDIMM
// _DSM doorbell port, write one 32-bit value to it, exit 0. With busybox's
// devmem to fill the shared page, it lets a test play a hostile guest that
// talks to pmemvm's label interface without going through the kernel's checks.

import { staticElf } from './static-elf.js';

/** Machine code: ioperm(port, 4, 1); outl(value, port); exit(0). */
function code(port: number, value: number): Uint8Array {
  const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  return Uint8Array.from([
    0xbf, ...u32(port),            // mov edi, port
    0xbe, ...u32(4),               // mov esi, 4
    0xba, ...u32(1),               // mov edx, 1
    0xb8, ...u32(173),             // mov eax, SYS_ioperm
    0x0f, 0x05,                    // syscall
    0xb8, ...u32(value),           // mov eax, value
    0x66, 0xba, port & 0xff, port >> 8, // mov dx, port
    0xef,                          // out dx, eax
    0x31, 0xff,                    // xor edi, edi
    0xb8, ...u32(60),              // mov eax, SYS_exit
    0x0f, 0x05,                    // syscall
  ]);
}

/** ELF64 executable that rings the doorbell once. */
export function ringDoorbellElf(port: number, value: number): Uint8Array {
  return staticElf(code(port, value));
}
