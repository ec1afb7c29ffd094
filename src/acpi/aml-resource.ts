// Resource descriptors for _CRS buffers (ACPI 6.x section 6.4). Each function
// returns one raw descriptor; aml.resourceTemplate() wraps them in a Buffer.

import { checksum8, concat, le } from './bytes.js';

type U64 = number | bigint;

/** End Tag (small item 0xF); checksum over `preceding` when given, else 0 ("valid"). */
export function endTag(preceding?: Uint8Array): Uint8Array {
  const tag = Uint8Array.of(0x79, 0);
  if (preceding) tag[1] = checksum8(concat(preceding, Uint8Array.of(0x79)));
  return tag;
}

/** IO port descriptor (small item 0x8, length 7). */
export function ioPort(opts: { min: number; max?: number; align?: number; length: number; decode16?: boolean }): Uint8Array {
  return concat(
    Uint8Array.of(0x47, opts.decode16 === false ? 0 : 1),
    le(opts.min, 2),
    le(opts.max ?? opts.min, 2),
    le(opts.align ?? 0, 1),
    le(opts.length, 1),
  );
}

/** IRQNoFlags: edge-triggered, active-high ISA IRQs (small item 0x4, length 2). */
export function irqNoFlags(...irqs: number[]): Uint8Array {
  let mask = 0;
  for (const irq of irqs) {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new RangeError(`ISA IRQ ${irq}`);
    mask |= 1 << irq;
  }
  return concat(Uint8Array.of(0x22), le(mask, 2));
}

/** Memory32Fixed (large item 0x86, length 9). */
export function memory32Fixed(base: number, length: number, readWrite = true): Uint8Array {
  return concat(Uint8Array.of(0x86), le(9, 2), Uint8Array.of(readWrite ? 1 : 0), le(base, 4), le(length, 4));
}

/** Common fields of the Word/DWord/QWord address space descriptors; defaults follow ASL. */
export interface AddressSpace {
  min: U64;
  max: U64;
  length: U64;
  granularity?: U64;
  translation?: U64;
  /** ResourceProducer (e.g. a host bridge window); ASL's default is ResourceConsumer. */
  producer?: boolean;
  minFixed?: boolean;
  maxFixed?: boolean;
  subtractive?: boolean;
}

export type MemoryCaching = 'noncacheable' | 'cacheable' | 'writecombining' | 'prefetchable';
export interface MemorySpace extends AddressSpace {
  caching?: MemoryCaching; // default noncacheable
  readWrite?: boolean; // default true
}
export interface IoSpace extends AddressSpace {
  range?: 'entire' | 'isa' | 'nonisa'; // default entire
}

const CACHING: Record<MemoryCaching, number> = { noncacheable: 0, cacheable: 1, writecombining: 2, prefetchable: 3 };
const RANGES = { nonisa: 1, isa: 2, entire: 3 } as const;

function generalFlags(a: AddressSpace): number {
  // Bit0: consumer (ignored by ACPI 6, still set by iasl), 1: _DEC, 2: _MIF, 3: _MAF.
  return (a.producer ? 0 : 1) | (a.subtractive ? 2 : 0) | (a.minFixed ? 4 : 0) | (a.maxFixed ? 8 : 0);
}
function memoryFlags(m: MemorySpace): number {
  return (m.readWrite === false ? 0 : 1) | (CACHING[m.caching ?? 'noncacheable'] << 1);
}

function addressSpace(tag: number, size: 2 | 4 | 8, type: number, typeFlags: number, a: AddressSpace): Uint8Array {
  const fields = [a.granularity ?? 0, a.min, a.max, a.translation ?? 0, a.length].map((v) => le(v, size));
  return concat(
    Uint8Array.of(tag),
    le(3 + 5 * size, 2), // bytes after the 3-byte header
    Uint8Array.of(type, generalFlags(a), typeFlags),
    ...fields,
  );
}

/** QWordMemory (large item 0x8A). */
export function qwordMemory(m: MemorySpace): Uint8Array {
  return addressSpace(0x8a, 8, 0, memoryFlags(m), m);
}
/** DWordMemory (large item 0x87). */
export function dwordMemory(m: MemorySpace): Uint8Array {
  return addressSpace(0x87, 4, 0, memoryFlags(m), m);
}
/** WordIO (large item 0x88, resource type 1). */
export function wordIO(io: IoSpace): Uint8Array {
  return addressSpace(0x88, 2, 1, RANGES[io.range ?? 'entire'], io);
}
/** WordBusNumber (large item 0x88, resource type 2). */
export function wordBusNumber(bus: AddressSpace): Uint8Array {
  return addressSpace(0x88, 2, 2, 0, bus);
}

/** Extended Interrupt descriptor (large item 0x89), e.g. for GSIs above 15. */
export function interrupt(opts: {
  gsis: number[];
  edge?: boolean; // default level
  activeLow?: boolean; // default active-high
  shared?: boolean;
  wake?: boolean;
  producer?: boolean;
}): Uint8Array {
  const n = opts.gsis.length;
  if (n < 1 || n > 255) throw new RangeError('Interrupt descriptor needs 1..255 interrupts');
  const flags =
    (opts.producer ? 0 : 1) | (opts.edge ? 2 : 0) | (opts.activeLow ? 4 : 0) | (opts.shared ? 8 : 0) | (opts.wake ? 0x10 : 0);
  return concat(Uint8Array.of(0x89), le(2 + 4 * n, 2), Uint8Array.of(flags, n), ...opts.gsis.map((g) => le(g, 4)));
}
