/**
 * The KVM ABI for x86-64: ioctl numbers, exit reasons and struct layouts
 * (from linux/kvm.h and asm/kvm.h). Structs are packed by hand into
 * little-endian buffers; offsets are commented where they are not obvious.
 */

// _IO/_IOR/_IOW/_IOWR for type 0xAE (KVMIO).
const io = (nr: number) => 0xae00 | nr;
const iow = (nr: number, size: number) => ((1 << 30) | (size << 16) | 0xae00 | nr) >>> 0;
const ior = (nr: number, size: number) => ((2 << 30) | (size << 16) | 0xae00 | nr) >>> 0;
const iowr = (nr: number, size: number) => ((3 << 30) | (size << 16) | 0xae00 | nr) >>> 0;

export const KVM = {
  GET_API_VERSION: io(0x00),
  CREATE_VM: io(0x01),
  CHECK_EXTENSION: io(0x03),
  GET_VCPU_MMAP_SIZE: io(0x04),
  GET_SUPPORTED_CPUID: iowr(0x05, 8),
  CREATE_VCPU: io(0x41),
  SET_USER_MEMORY_REGION: iow(0x46, 32),
  SET_TSS_ADDR: io(0x47),
  SET_IDENTITY_MAP_ADDR: iow(0x48, 8),
  CREATE_IRQCHIP: io(0x60),
  IRQ_LINE: iow(0x61, 8),
  REGISTER_COALESCED_MMIO: iow(0x67, 16),
  SET_GSI_ROUTING: iow(0x6a, 8),
  IRQFD: iow(0x76, 32),
  CREATE_PIT2: iow(0x77, 64),
  IOEVENTFD: iow(0x79, 64),
  RUN: io(0x80),
  GET_REGS: ior(0x81, 144),
  SET_REGS: iow(0x82, 144),
  GET_SREGS: ior(0x83, 312),
  SET_SREGS: iow(0x84, 312),
  SET_MSRS: iow(0x89, 8),
  SET_FPU: iow(0x8d, 416),
  SET_CPUID2: iow(0x90, 8),
  SIGNAL_MSI: iow(0xa5, 32),
  // struct kvm_signal_mask { u32 len; u8 sigset[len] }: the mask while the vCPU is in the guest.
  SET_SIGNAL_MASK: iow(0x8b, 4),
  // struct kvm_enable_cap, on the VM fd for VM-wide capabilities.
  ENABLE_CAP: iow(0xa3, 104),
  // struct kvm_clock_data: the guest's kvmclock, kept still while the VM is paused.
  GET_CLOCK: ior(0x7c, 48),
  SET_CLOCK: iow(0x7b, 48),
  // Read-only state, for diagnostics (a stuck guest shows where it waits).
  GET_IRQCHIP: iowr(0x62, 520),
  GET_LAPIC: ior(0x8e, 1024),
  SET_LAPIC: iow(0x8f, 1024),
  GET_MP_STATE: ior(0x98, 4),
  GET_VCPU_EVENTS: ior(0x9f, 64),
  // The rest of a vCPU's registers, for the monitor's info registers.
  GET_DEBUGREGS: ior(0xa1, 128),
  GET_XSAVE: ior(0xa4, 4096),
  GET_XCRS: ior(0xa6, 392),
} as const;

export const KVM_API_VERSION = 12;
export const CAP = { IRQCHIP: 0, USER_MEMORY: 3, SET_TSS_ADDR: 4, EXT_CPUID: 7, IRQ_ROUTING: 25, PIT2: 33, IOEVENTFD: 36, IRQFD: 32, SIGNAL_MSI: 77, COALESCED_PIO: 162, HALT_POLL: 182 } as const;

export const EXIT = {
  UNKNOWN: 0, EXCEPTION: 1, IO: 2, HYPERCALL: 3, DEBUG: 4, HLT: 5, MMIO: 6,
  IRQ_WINDOW_OPEN: 7, SHUTDOWN: 8, FAIL_ENTRY: 9, INTR: 10, INTERNAL_ERROR: 17, SYSTEM_EVENT: 24,
} as const;
export const EXIT_IO_IN = 0, EXIT_IO_OUT = 1;
export const SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;

/** Offsets into the mmap'ed struct kvm_run. */
export const RUN = {
  IMMEDIATE_EXIT: 1,
  EXIT_REASON: 8,
  // union at 32
  IO_DIRECTION: 32, IO_SIZE: 33, IO_PORT: 34, IO_COUNT: 36, IO_DATA_OFFSET: 40,
  MMIO_PHYS_ADDR: 32, MMIO_DATA: 40, MMIO_LEN: 48, MMIO_IS_WRITE: 52,
  SYSTEM_EVENT_TYPE: 32,
  FAIL_ENTRY_REASON: 32,
  INTERNAL_SUBERROR: 32,
} as const;

/**
 * The coalesced MMIO/PIO ring: page 2 of each vCPU's kvm_run mapping (one ring
 * per VM). struct kvm_coalesced_mmio_ring { u32 first, last; entries[] } with
 * entries { u64 phys_addr; u32 len; u32 pio; u8 data[8] }; KVM appends at
 * `last`, user space consumes from `first`.
 */
export const COALESCED_RING = { PAGE: 2, FIRST: 0, LAST: 4, ENTRIES: 8, ENTRY_SIZE: 24, ADDR: 0, LEN: 8, DATA: 16, MAX: Math.floor((4096 - 8) / 24) } as const;

/** struct kvm_coalesced_mmio_zone { u64 addr; u32 size; u32 pio } */
export function encodeCoalescedZone(addr: number, size: number, pio: boolean): Uint8Array {
  const b = new Uint8Array(16), v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(addr), true);
  v.setUint32(8, size, true);
  v.setUint32(12, pio ? 1 : 0, true);
  return b;
}

export interface MemoryRegion { slot: number; flags: number; guestPhysAddr: bigint; size: bigint; userAddr: bigint }
export const MEM_READONLY = 2;

export function encodeMemoryRegion(r: MemoryRegion): Uint8Array {
  const b = new Uint8Array(32), v = new DataView(b.buffer);
  v.setUint32(0, r.slot, true);
  v.setUint32(4, r.flags, true);
  v.setBigUint64(8, r.guestPhysAddr, true);
  v.setBigUint64(16, r.size, true);
  v.setBigUint64(24, r.userAddr, true);
  return b;
}

/** struct kvm_regs: 18 u64 in this order. */
export const REG_NAMES = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;
export type Regs = Record<(typeof REG_NAMES)[number], bigint>;

export function encodeRegs(r: Partial<Regs>): Uint8Array {
  const b = new Uint8Array(144), v = new DataView(b.buffer);
  REG_NAMES.forEach((n, i) => v.setBigUint64(i * 8, r[n] ?? 0n, true));
  return b;
}
export function decodeRegs(b: Uint8Array): Regs {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const r = {} as Regs;
  REG_NAMES.forEach((n, i) => { r[n] = v.getBigUint64(i * 8, true); });
  return r;
}

export interface Segment {
  base: bigint; limit: number; selector: number; type: number;
  present: number; dpl: number; db: number; s: number; l: number; g: number; avl: number; unusable: number;
}
const SEG_ORDER = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
export type SegName = (typeof SEG_ORDER)[number];

/**
 * struct kvm_sregs is edited in place: read it with GET_SREGS, change what the
 * boot needs, write it back, so fields we do not touch keep KVM's values.
 */
export class Sregs {
  readonly bytes = new Uint8Array(312);
  private v = new DataView(this.bytes.buffer);
  setSegment(name: SegName, s: Segment): void {
    const o = SEG_ORDER.indexOf(name) * 24;
    this.v.setBigUint64(o, s.base, true);
    this.v.setUint32(o + 8, s.limit >>> 0, true);
    this.v.setUint16(o + 12, s.selector, true);
    const flags = [s.type, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable];
    flags.forEach((f, i) => this.v.setUint8(o + 14 + i, f));
  }
  /** gdt at 192, idt at 208: {u64 base, u16 limit, u16 pad[3]} */
  setDtable(which: 'gdt' | 'idt', base: bigint, limit: number): void {
    const o = which === 'gdt' ? 192 : 208;
    this.v.setBigUint64(o, base, true);
    this.v.setUint16(o + 8, limit, true);
  }
  /** cr0 224, cr2 232, cr3 240, cr4 248, cr8 256, efer 264, apic_base 272 */
  set(reg: 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8' | 'efer' | 'apic_base', value: bigint): void {
    const o = { cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apic_base: 272 }[reg];
    this.v.setBigUint64(o, value, true);
  }
  get(reg: 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8' | 'efer' | 'apic_base'): bigint {
    const o = { cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apic_base: 272 }[reg];
    return this.v.getBigUint64(o, true);
  }
  segment(name: SegName): Segment {
    const o = SEG_ORDER.indexOf(name) * 24;
    const f = (i: number) => this.v.getUint8(o + 14 + i);
    return {
      base: this.v.getBigUint64(o, true), limit: this.v.getUint32(o + 8, true), selector: this.v.getUint16(o + 12, true),
      type: f(0), present: f(1), dpl: f(2), db: f(3), s: f(4), l: f(5), g: f(6), avl: f(7), unusable: f(8),
    };
  }
  dtable(which: 'gdt' | 'idt'): { base: bigint; limit: number } {
    const o = which === 'gdt' ? 192 : 208;
    return { base: this.v.getBigUint64(o, true), limit: this.v.getUint16(o + 8, true) };
  }
}

export interface CpuidEntry { function: number; index: number; flags: number; eax: number; ebx: number; ecx: number; edx: number }
export const CPUID_FLAG_SIGNIFICANT_INDEX = 1;

/** struct kvm_cpuid2 with room for `max` entries of 40 bytes. */
export function cpuidBuffer(max: number): Uint8Array {
  const b = new Uint8Array(8 + 40 * max);
  new DataView(b.buffer).setUint32(0, max, true);
  return b;
}
export function decodeCpuid(b: Uint8Array): CpuidEntry[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = v.getUint32(0, true), out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + 40 * i;
    out.push({
      function: v.getUint32(o, true), index: v.getUint32(o + 4, true), flags: v.getUint32(o + 8, true),
      eax: v.getUint32(o + 12, true), ebx: v.getUint32(o + 16, true), ecx: v.getUint32(o + 20, true), edx: v.getUint32(o + 24, true),
    });
  }
  return out;
}
export function encodeCpuid(entries: CpuidEntry[]): Uint8Array {
  const b = cpuidBuffer(entries.length), v = new DataView(b.buffer);
  entries.forEach((e, i) => {
    const o = 8 + 40 * i;
    v.setUint32(o, e.function, true); v.setUint32(o + 4, e.index, true); v.setUint32(o + 8, e.flags, true);
    v.setUint32(o + 12, e.eax >>> 0, true); v.setUint32(o + 16, e.ebx >>> 0, true);
    v.setUint32(o + 20, e.ecx >>> 0, true); v.setUint32(o + 24, e.edx >>> 0, true);
  });
  return b;
}

export function encodeMsrs(msrs: Array<[number, bigint]>): Uint8Array {
  const b = new Uint8Array(8 + 16 * msrs.length), v = new DataView(b.buffer);
  v.setUint32(0, msrs.length, true);
  msrs.forEach(([idx, val], i) => { v.setUint32(8 + 16 * i, idx, true); v.setBigUint64(16 + 16 * i, val, true); });
  return b;
}

/** struct kvm_fpu with the x87 control word and MXCSR at their reset values. */
export function encodeDefaultFpu(): Uint8Array {
  const b = new Uint8Array(416), v = new DataView(b.buffer);
  v.setUint16(128, 0x37f, true); // fcw
  v.setUint32(408, 0x1f80, true); // mxcsr (after 128 fpr + 32 header + 256 xmm)
  return b;
}

export function encodeIrqLevel(irq: number, level: boolean): Uint8Array {
  const b = new Uint8Array(8), v = new DataView(b.buffer);
  v.setUint32(0, irq, true); v.setUint32(4, level ? 1 : 0, true);
  return b;
}

export function encodePitConfig(flags: number): Uint8Array {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setUint32(0, flags, true);
  return b;
}
export const PIT_SPEAKER_DUMMY = 1;

/** struct kvm_msi: address_lo, address_hi, data, flags, devid, pad[12]. */
export function encodeMsi(addressLo: number, addressHi: number, data: number): Uint8Array {
  const b = new Uint8Array(32), v = new DataView(b.buffer);
  v.setUint32(0, addressLo >>> 0, true);
  v.setUint32(4, addressHi >>> 0, true);
  v.setUint32(8, data >>> 0, true);
  return b;
}

export const IOEVENTFD_FLAG = { DATAMATCH: 1, PIO: 2, DEASSIGN: 4 } as const;
/** struct kvm_ioeventfd: datamatch u64, addr u64, len u32, fd s32, flags u32, pad[36]. */
export function encodeIoeventfd(addr: number, len: number, fd: number, flags: number): Uint8Array {
  const b = new Uint8Array(64), v = new DataView(b.buffer);
  v.setBigUint64(8, BigInt(addr), true);
  v.setUint32(16, len, true);
  v.setInt32(20, fd, true);
  v.setUint32(24, flags, true);
  return b;
}

/** struct kvm_irq_routing_entry.type, and the in-kernel irqchips an IRQCHIP route names. */
export const IRQ_ROUTING = { IRQCHIP: 1, MSI: 2 } as const;
export const IRQCHIP_PIC_MASTER = 0, IRQCHIP_PIC_SLAVE = 1;
/** One GSI routing entry: a pin of the in-kernel PIC/IOAPIC, or an MSI message (address and data as the guest programmed them). */
export type IrqRoute =
  | { gsi: number; kind: 'irqchip'; irqchip: number; pin: number }
  | { gsi: number; kind: 'msi'; addressLo: number; addressHi: number; data: number };
/**
 * struct kvm_irq_routing: nr u32, flags u32 (0), then nr entries of 48 bytes:
 * gsi u32, type u32, flags u32, pad u32, union u at 16 (irqchip: irqchip u32, pin u32;
 * msi: address_lo u32, address_hi u32, data u32, devid u32; padded to 32 bytes).
 */
export function encodeIrqRouting(entries: readonly IrqRoute[]): Uint8Array {
  const b = new Uint8Array(8 + 48 * entries.length), v = new DataView(b.buffer);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    const o = 8 + 48 * i;
    v.setUint32(o, e.gsi, true);
    if (e.kind === 'irqchip') {
      v.setUint32(o + 4, IRQ_ROUTING.IRQCHIP, true);
      v.setUint32(o + 16, e.irqchip, true); v.setUint32(o + 20, e.pin, true);
    } else {
      v.setUint32(o + 4, IRQ_ROUTING.MSI, true);
      v.setUint32(o + 16, e.addressLo >>> 0, true); v.setUint32(o + 20, e.addressHi >>> 0, true);
      v.setUint32(o + 24, e.data >>> 0, true);
    }
  });
  return b;
}

export const IRQFD_FLAG = { DEASSIGN: 1 } as const;
/** struct kvm_irqfd: fd u32, gsi u32, flags u32, resamplefd u32 (unused: edge-triggered MSIs), pad[16]. */
export function encodeIrqfd(fd: number, gsi: number, flags: number): Uint8Array {
  const b = new Uint8Array(32), v = new DataView(b.buffer);
  v.setUint32(0, fd, true);
  v.setUint32(4, gsi, true);
  v.setUint32(8, flags, true);
  return b;
}

/** struct kvm_enable_cap: cap u32, flags u32, args u64[4], pad u8[64]. */
export function encodeEnableCap(cap: number, args: readonly bigint[] = []): Uint8Array {
  const b = new Uint8Array(104), v = new DataView(b.buffer);
  v.setUint32(0, cap, true);
  args.slice(0, 4).forEach((a, i) => v.setBigUint64(8 + 8 * i, a, true));
  return b;
}

/** struct kvm_mp_state values: what a vCPU is doing in the kernel's eyes. */
export const MP_STATE_NAMES = ['runnable', 'uninitialized', 'init-received', 'halted', 'sipi-received', 'stopped', 'check-stop', 'operating', 'load', 'ap-reset-hold', 'suspended'] as const;

/** The vectors whose bit is set in a 256-bit local APIC register (IRR, ISR): eight 32-bit words 16 bytes apart. */
export function lapicVectors(lapic: Uint8Array, base: number): number[] {
  const v = new DataView(lapic.buffer, lapic.byteOffset, lapic.byteLength);
  const out: number[] = [];
  for (let w = 0; w < 8; w++) {
    const bits = v.getUint32(base + w * 16, true);
    for (let b = 0; b < 32; b++) if (bits & (1 << b)) out.push(w * 32 + b);
  }
  return out;
}
export const LAPIC = { TPR: 0x80, PPR: 0xa0, ISR: 0x100, IRR: 0x200, LVT_TIMER: 0x320, TIMER_INITIAL: 0x380, TIMER_CURRENT: 0x390 } as const;

/** struct kvm_irqchip for the IOAPIC (chip 2): its pending lines and 24 redirection entries. */
export const IRQCHIP_IOAPIC = 2;
export interface IoapicPin { pin: number; vector: number; masked: boolean; level: boolean; remoteIrr: boolean; pending: boolean; dest: number }
export function decodeIoapic(chip: Uint8Array): IoapicPin[] {
  const v = new DataView(chip.buffer, chip.byteOffset, chip.byteLength);
  const u = 8; // the union after chip_id and pad: base_address, ioregsel, id, irr, pad, redirtbl[24]
  const irr = v.getUint32(u + 16, true);
  const pins: IoapicPin[] = [];
  for (let pin = 0; pin < 24; pin++) {
    const lo = v.getUint32(u + 24 + pin * 8, true), hi = v.getUint32(u + 24 + pin * 8 + 4, true);
    pins.push({
      pin, vector: lo & 0xff, masked: (lo & (1 << 16)) !== 0, level: (lo & (1 << 15)) !== 0,
      remoteIrr: (lo & (1 << 14)) !== 0, pending: (irr & (1 << pin)) !== 0, dest: hi >>> 24,
    });
  }
  return pins;
}
