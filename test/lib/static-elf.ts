// The smallest static x86-64 Linux executable: ELF header, one program header, code.
// Test programs for the guest are written as machine code, so the tests need no compiler.

/** ELF64 executable: one PT_LOAD segment (R+X) holding headers and code at 0x400000; entry at the code. */
export function staticElf(text: Uint8Array): Uint8Array {
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
