/**
 * `info registers` in QEMU 7.2's text (x86_cpu_dump_state with CPU_DUMP_FPU, as KVM's
 * state reaches it): the general registers, segment caches with their descriptors
 * decoded, tables, control and debug registers, EFER, then x87 and the vector registers
 * as wide as the guest's XCR0 makes them.
 */
import type { CpuRegisters } from '../kvm/vcpu-registers.js';
import type { Segment } from '../sys/kvm-abi.js';

const hex = (n: number | bigint, width: number) => BigInt.asUintN(width * 4, BigInt(n)).toString(16).padStart(width, '0');

// Descriptor bits in QEMU's SegmentCache.flags (the descriptor's high word).
const DESC_A = 1 << 8, DESC_TYPE_SHIFT = 8, DESC_S = 1 << 12, DESC_DPL_SHIFT = 13, DESC_P = 1 << 15;
const DESC_L = 1 << 21, DESC_B = 1 << 22, DESC_CS = 1 << 11, DESC_C = 1 << 10, DESC_R = 1 << 9, DESC_E = 1 << 10, DESC_W = 1 << 9;

/** kvm_segment as QEMU keeps it (get_seg): an unusable segment has no flags. */
function segFlags(s: Segment): number {
  if (s.unusable) return 0;
  return ((s.type << DESC_TYPE_SHIFT) | (s.present ? DESC_P : 0) | (s.dpl << DESC_DPL_SHIFT) | (s.db << 22) | (s.s ? DESC_S : 0) |
    (s.l << 21) | (s.g ? 1 << 23 : 0) | (s.avl ? 1 << 20 : 0)) >>> 0;
}

const SYS_TYPES = [
  ['Reserved', 'TSS16-avl', 'LDT', 'TSS16-busy', 'CallGate16', 'TaskGate', 'IntGate16', 'TrapGate16',
    'Reserved', 'TSS32-avl', 'Reserved', 'TSS32-busy', 'CallGate32', 'Reserved', 'IntGate32', 'TrapGate32'],
  ['<hiword>', 'Reserved', 'LDT', 'Reserved', 'Reserved', 'Reserved', 'Reserved', 'Reserved',
    'Reserved', 'TSS64-avl', 'Reserved', 'TSS64-busy', 'CallGate64', 'Reserved', 'IntGate64', 'TrapGate64'],
];

interface Mode { pe: boolean; lma: boolean; cs64: boolean }

function segLine(name: string, s: Segment, m: Mode): string {
  const f = segFlags(s);
  let line = m.cs64
    ? `${name.padEnd(3)}=${hex(s.selector, 4)} ${hex(s.base, 16)} ${hex(s.limit, 8)} ${hex(f & 0x00ffff00, 8)}`
    : `${name.padEnd(3)}=${hex(s.selector, 4)} ${hex(s.base, 8)} ${hex(s.limit, 8)} ${hex(f & 0x00ffff00, 8)}`;
  if (!m.pe || !(f & DESC_P)) return line;
  line += ` DPL=${(f >> DESC_DPL_SHIFT) & 3} `;
  if (f & DESC_S) {
    if (f & DESC_CS) {
      line += f & DESC_L ? 'CS64' : f & DESC_B ? 'CS32' : 'CS16';
      line += ` [${f & DESC_C ? 'C' : '-'}${f & DESC_R ? 'R' : '-'}`;
    } else {
      line += f & DESC_B || m.lma ? 'DS  ' : 'DS16';
      line += ` [${f & DESC_E ? 'E' : '-'}${f & DESC_W ? 'W' : '-'}`;
    }
    line += `${f & DESC_A ? 'A' : '-'}]`;
  } else {
    line += SYS_TYPES[m.lma ? 1 : 0]![(f >> DESC_TYPE_SHIFT) & 15];
  }
  return line;
}

/** One CPU's registers, as QEMU prints them after its "CPU#N" line. */
export function formatRegisters(r: CpuRegisters): string {
  const lma = (r.efer & (1n << 10n)) !== 0n;
  const m: Mode = { pe: (r.cr0 & 1n) !== 0n, lma, cs64: lma && r.segs.cs.l === 1 && !r.segs.cs.unusable };
  const g = r.regs, fl = Number(g.rflags & 0xffffffffn);
  const flags = [[0x400, 'D'], [0x800, 'O'], [0x80, 'S'], [0x40, 'Z'], [0x10, 'A'], [0x4, 'P'], [0x1, 'C']].map(([b, c]) => (fl & (b as number) ? c : '-')).join('');
  const cpl = r.segs.ss.unusable ? 0 : r.segs.ss.dpl;
  const tail = `[${flags}] CPL=${cpl} II=${r.interruptShadow ? 1 : 0} A20=1 SMM=0 HLT=${r.halted ? 1 : 0}`;
  const out: string[] = [];
  if (m.cs64) {
    const w = (n: string, v: bigint) => `${n.padEnd(3)}=${hex(v, 16)}`;
    out.push([w('RAX', g.rax), w('RBX', g.rbx), w('RCX', g.rcx), w('RDX', g.rdx)].join(' '));
    out.push([w('RSI', g.rsi), w('RDI', g.rdi), w('RBP', g.rbp), w('RSP', g.rsp)].join(' '));
    out.push([w('R8', g.r8), w('R9', g.r9), w('R10', g.r10), w('R11', g.r11)].join(' '));
    out.push([w('R12', g.r12), w('R13', g.r13), w('R14', g.r14), w('R15', g.r15)].join(' '));
    out.push(`RIP=${hex(g.rip, 16)} RFL=${hex(fl, 8)} ${tail}`);
  } else {
    const w = (n: string, v: bigint) => `${n}=${hex(v, 8)}`;
    out.push([w('EAX', g.rax), w('EBX', g.rbx), w('ECX', g.rcx), w('EDX', g.rdx)].join(' '));
    out.push([w('ESI', g.rsi), w('EDI', g.rdi), w('EBP', g.rbp), w('ESP', g.rsp)].join(' '));
    out.push(`EIP=${hex(g.rip, 8)} EFL=${hex(fl, 8)} ${tail}`);
  }
  for (const [name, seg] of [['ES', r.segs.es], ['CS', r.segs.cs], ['SS', r.segs.ss], ['DS', r.segs.ds], ['FS', r.segs.fs], ['GS', r.segs.gs], ['LDT', r.segs.ldt], ['TR', r.segs.tr]] as const) {
    out.push(segLine(name, seg, m));
  }
  if (lma) {
    out.push(`GDT=     ${hex(r.gdt.base, 16)} ${hex(r.gdt.limit, 8)}`);
    out.push(`IDT=     ${hex(r.idt.base, 16)} ${hex(r.idt.limit, 8)}`);
    out.push(`CR0=${hex(r.cr0, 8)} CR2=${hex(r.cr2, 16)} CR3=${hex(r.cr3, 16)} CR4=${hex(r.cr4, 8)}`);
  } else {
    out.push(`GDT=     ${hex(r.gdt.base, 8)} ${hex(r.gdt.limit, 8)}`);
    out.push(`IDT=     ${hex(r.idt.base, 8)} ${hex(r.idt.limit, 8)}`);
    out.push(`CR0=${hex(r.cr0, 8)} CR2=${hex(r.cr2, 8)} CR3=${hex(r.cr3, 8)} CR4=${hex(r.cr4, 8)}`);
  }
  out.push(r.dr.slice(0, 4).map((d, i) => `DR${i}=${hex(d, 16)} `).join(''));
  out.push(`DR6=${hex(r.dr[4]!, 16)} DR7=${hex(r.dr[5]!, 16)}`);
  out.push(`EFER=${hex(r.efer, 16)}`);
  const top = (r.fsw >> 11) & 7;
  out.push(`FCW=${hex(r.fcw, 4)} FSW=${hex(r.fsw, 4)} [ST=${top}] FTW=${hex(r.ftw, 2)} MXCSR=${hex(r.mxcsr, 8)}`);
  const pairs = (items: string[]) => { for (let i = 0; i < items.length; i += 2) out.push(`${items[i]} ${items[i + 1] ?? ''}`.trimEnd()); };
  pairs(r.fpr.map((f, i) => `FPR${i}=${hex(f.mantissa, 16)} ${hex(f.exponent, 4)}`));
  const v = r.vectors;
  const avx512 = (r.xcr0 & (7n << 5n)) === 7n << 5n && v[0]!.length === 8;
  if (avx512) {
    for (let i = 0; i < 8; i += 4) out.push(r.opmask.slice(i, i + 4).map((k, j) => `Opmask${String(i + j).padStart(2, '0')}=${hex(k, 16)}`).join(' '));
    v.slice(0, m.cs64 ? 32 : 8).forEach((z, i) => out.push(`ZMM${String(i).padStart(2, '0')}=${[...z].reverse().map((x) => hex(x, 16)).join(' ')}`));
  } else if (r.xcr0 & (1n << 2n) && v[0]!.length >= 4) {
    v.slice(0, 16).forEach((y, i) => out.push(`YMM${String(i).padStart(2, '0')}=${y.slice(0, 4).reverse().map((x) => hex(x, 16)).join(' ')}`));
  } else {
    pairs(v.slice(0, m.cs64 ? 16 : 8).map((x, i) => `XMM${String(i).padStart(2, '0')}=${hex(x[1]!, 16)} ${hex(x[0]!, 16)}`));
  }
  return out.join('\n') + '\n';
}
