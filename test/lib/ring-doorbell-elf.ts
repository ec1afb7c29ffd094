// A 180-byte static x86-64 Linux program for the guest: ioperm() the NVDIMM
// _DSM doorbell port, write one 32-bit value to it, exit 0. With busybox's
// devmem to fill the shared page, it lets a test play a hostile guest that
// talks to pmemvm's label interface without going through the kernel's checks.

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

/** ELF64 executable: one PT_LOAD segment (R+X) holding headers and code at 0x400000. */
export function ringDoorbellElf(port: number, value: number): Uint8Array {
  const text = code(port, value);
  const base = 0x400000;
  const headers = 64 + 56;
  const total = headers + text.length;
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]); // ELF, 64-bit, little-endian, version 1, SysV
  v.setUint16(16, 2, true);           // ET_EXEC
  v.setUint16(18, 0x3e, true);        // EM_X86_64
  v.setUint32(20, 1, true);           // EV_CURRENT
  v.setBigUint64(24, BigInt(base + headers), true); // e_entry
  v.setBigUint64(32, 64n, true);      // e_phoff
  v.setUint16(52, 64, true);          // e_ehsize
  v.setUint16(54, 56, true);          // e_phentsize
  v.setUint16(56, 1, true);           // e_phnum
  const ph = 64;
  v.setUint32(ph, 1, true);           // PT_LOAD
  v.setUint32(ph + 4, 5, true);       // PF_R | PF_X
  v.setBigUint64(ph + 8, 0n, true);   // p_offset
  v.setBigUint64(ph + 16, BigInt(base), true); // p_vaddr
  v.setBigUint64(ph + 24, BigInt(base), true); // p_paddr
  v.setBigUint64(ph + 32, BigInt(total), true); // p_filesz
  v.setBigUint64(ph + 40, BigInt(total), true); // p_memsz
  v.setBigUint64(ph + 48, 0x1000n, true);       // p_align
  b.set(text, headers);
  return b;
}
