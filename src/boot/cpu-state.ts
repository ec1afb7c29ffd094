/**
 * The CPU state the 64-bit boot protocol asks for: long mode with paging,
 * an identity map covering the kernel, boot_params and command line, a GDT
 * with flat __BOOT_CS (0x10) and __BOOT_DS (0x18), interrupts off, and
 * %rsi pointing at boot_params.
 */
import { Regs, Segment, Sregs } from '../sys/kvm-abi.js';
import { BOOT_GDT, BOOT_IDT, BOOT_STACK, PD, PDPT, PML4, ZERO_PAGE } from './layout.js';

const BOOT_CS = 0x10, BOOT_DS = 0x18, BOOT_TSS = 0x20;

/** A GDT descriptor from flags (access byte + granularity nibble), base, limit. */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  return ((BigInt(base) & 0xff000000n) << 32n) | ((BigInt(flags) & 0x0000f0ffn) << 40n) |
    ((BigInt(limit) & 0x000f0000n) << 32n) | ((BigInt(base) & 0x00ffffffn) << 16n) | (BigInt(limit) & 0x0000ffffn);
}

export const GDT: bigint[] = [
  0n, 0n,
  gdtEntry(0xa09b, 0, 0xfffff), // 0x10: 64-bit code, present, DPL0
  gdtEntry(0xc093, 0, 0xfffff), // 0x18: data, read/write
  gdtEntry(0x808b, 0, 0xfffff), // 0x20: busy 64-bit TSS
];

export function gdtBytes(): Uint8Array {
  const b = new Uint8Array(GDT.length * 8), v = new DataView(b.buffer);
  GDT.forEach((e, i) => v.setBigUint64(i * 8, e, true));
  return b;
}

function segmentFrom(entry: bigint, selector: number): Segment {
  const n = (shift: bigint, mask: bigint) => Number((entry >> shift) & mask);
  return {
    base: BigInt(n(16n, 0xffffffn) | (n(56n, 0xffn) << 24)),
    limit: n(0n, 0xffffn) | (n(48n, 0xfn) << 16),
    selector, type: n(40n, 0xfn), s: n(44n, 1n), dpl: n(45n, 3n), present: n(47n, 1n),
    avl: n(52n, 1n), l: n(53n, 1n), db: n(54n, 1n), g: n(55n, 1n), unusable: 0,
  };
}

/**
 * Identity map of the first 4 GiB with 2 MiB pages: one PML4, one PDPT and
 * four page directories, written at PML4/PDPT/PD.
 */
export function identityPageTables(): Array<{ gpa: number; data: Uint8Array }> {
  const pml4 = new Uint8Array(4096), pdpt = new Uint8Array(4096), pd = new Uint8Array(4 * 4096);
  new DataView(pml4.buffer).setBigUint64(0, BigInt(PDPT) | 0x3n, true);
  const pdptV = new DataView(pdpt.buffer), pdV = new DataView(pd.buffer);
  for (let i = 0; i < 4; i++) pdptV.setBigUint64(i * 8, BigInt(PD + i * 4096) | 0x3n, true);
  for (let i = 0; i < 2048; i++) pdV.setBigUint64(i * 8, (BigInt(i) << 21n) | 0x83n, true); // present|rw|2M
  return [{ gpa: PML4, data: pml4 }, { gpa: PDPT, data: pdpt }, { gpa: PD, data: pd }];
}

const CR0_PE = 1n, CR0_ET = 0x10n, CR0_PG = 0x8000_0000n;
const CR4_PAE = 0x20n;
const EFER_LME = 0x100n, EFER_LMA = 0x400n;

/** Patch the sregs KVM gave us into 64-bit long mode for the boot vCPU. */
export function longModeSregs(s: Sregs): void {
  const code = segmentFrom(GDT[2], BOOT_CS), data = segmentFrom(GDT[3], BOOT_DS), tss = segmentFrom(GDT[4], BOOT_TSS);
  s.setDtable('gdt', BigInt(BOOT_GDT), GDT.length * 8 - 1);
  s.setDtable('idt', BigInt(BOOT_IDT), 7);
  s.setSegment('cs', code);
  for (const n of ['ds', 'es', 'fs', 'gs', 'ss'] as const) s.setSegment(n, data);
  s.setSegment('tr', tss);
  s.set('cr3', BigInt(PML4));
  s.set('cr4', s.get('cr4') | CR4_PAE);
  s.set('cr0', s.get('cr0') | CR0_PE | CR0_ET | CR0_PG);
  s.set('efer', s.get('efer') | EFER_LME | EFER_LMA);
}

export function bootRegs(entry64: number): Partial<Regs> {
  return { rip: BigInt(entry64), rsi: BigInt(ZERO_PAGE), rsp: BigInt(BOOT_STACK), rbp: BigInt(BOOT_STACK), rflags: 2n };
}

/** MSRs set on every vCPU at reset (values as Firecracker/QEMU use). */
export function bootMsrs(): Array<[number, bigint]> {
  return [
    [0x174, 0n], [0x175, 0n], [0x176, 0n], // SYSENTER_CS/ESP/EIP
    [0xc0000081, 0n], [0xc0000082, 0n], [0xc0000083, 0n], [0xc0000084, 0n], // STAR, LSTAR, CSTAR, SFMASK
    [0xc0000102, 0n], // KERNEL_GS_BASE
    [0x10, 0n],       // TSC
    [0x1a0, 1n],      // MISC_ENABLE: fast strings
    [0x2ff, (1n << 11n) | 6n], // MTRRdefType: MTRRs on, default write-back
  ];
}
