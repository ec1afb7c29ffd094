/**
 * -machine, -accel, -cpu and -m: the options that shape the machine itself.
 * Each applies one argument onto the options so far (QEMU merges repeated
 * -machine and -m options key by key, later keys winning).
 */
import { UserError } from '../errors.js';
import { parseQemuOpts, parseUint } from './qemuopts.js';
import { boolProp, rejectUnknown } from './props.js';
import { MiB, parseSize, tryParseSize } from './size.js';
import type { MachineOptions, MemoryOptions } from './vm-options.js';

export const DEFAULT_RAM = 128n * MiB;
/** QEMU's ACPI_MAX_RAM_SLOTS (QEMU: "unsupported amount of memory slots: 300"). */
export const MAX_SLOTS = 256;

const KVM_ONLY = 'pmemvm only runs on KVM (use kvm or leave it out)';

export function applyMachine(m: MachineOptions, arg: string): void {
  const ctx = `-machine ${arg}`;
  const opts = parseQemuOpts(arg, 'type');
  rejectUnknown(ctx, opts, ['type', 'accel', 'nvdimm', 'nvdimm-persistence'], '-machine');
  for (const [key, value] of opts.props) {
    switch (key) {
      case 'type':
        m.type = machineType(ctx, value);
        break;
      case 'accel':
        // QEMU takes a fallback list "kvm:tcg"; only kvm is possible here.
        if (value !== 'kvm') throw new UserError(`${ctx}: accelerator '${value}' is not available: ${KVM_ONLY}`);
        break;
      case 'nvdimm':
        m.nvdimm = boolProp(ctx, key, value);
        break;
      case 'nvdimm-persistence':
        // QEMU: "-machine nvdimm-persistence=foo: unsupported option"
        if (value !== 'cpu' && value !== 'mem-ctrl') {
          throw new UserError(`${ctx}: nvdimm-persistence must be cpu or mem-ctrl, not '${value}'`);
        }
        m.nvdimmPersistence = value;
        break;
    }
  }
}

function machineType(ctx: string, type: string): string {
  if (type === 'pc' || /^pc-i440fx-\d+\.\d+$/.test(type)) return type;
  // QEMU: "unsupported machine type\nUse -machine help to list supported machines"
  const why = type === 'q35' || type.startsWith('pc-q35-')
    ? `machine type '${type}' is not supported (pmemvm emulates only the i440FX 'pc' machine)`
    : `unknown machine type '${type}' (pmemvm emulates only 'pc', also spelled pc-i440fx-X.Y)`;
  throw new UserError(`${ctx}: ${why}; use -machine pc`);
}

/** -accel kvm[,...]: QemuOpts with implied key 'accel'; no properties supported. */
export function checkAccel(arg: string): void {
  const ctx = `-accel ${arg}`;
  const opts = parseQemuOpts(arg, 'accel');
  const accel = opts.props.get('accel');
  if (accel !== 'kvm') throw new UserError(`${ctx}: accelerator '${accel ?? ''}' is not available: ${KVM_ONLY}`);
  opts.props.delete('accel');
  rejectUnknown(ctx, opts, [], "pmemvm's kvm accelerator");
}

export function parseCpu(arg: string): 'host' | 'max' {
  if (arg === 'host' || arg === 'max') return arg;
  if (/^(host|max),/.test(arg)) {
    throw new UserError(`-cpu ${arg}: CPU feature flags are not supported (use -cpu host or -cpu max alone)`);
  }
  throw new UserError(`-cpu ${arg}: unsupported CPU model '${arg}' (use host or max; both pass the host CPU through)`);
}

export function applyMemory(mem: MemoryOptions, arg: string): void {
  const ctx = `-m ${arg}`;
  const opts = parseQemuOpts(arg, 'size');
  rejectUnknown(ctx, opts, ['size', 'slots', 'maxmem'], '-m');
  for (const [key, value] of opts.props) {
    if (key === 'size') mem.size = ramSize(ctx, value);
    else if (key === 'slots') mem.slots = slotCount(ctx, value);
    else mem.maxmem = maxmemSize(ctx, value);
  }
}

/**
 * -m size: QEMU's "legacy suffix-less format": if the text ends in a digit
 * it is MiB ("512", "0x100", "1.0"). Rounded up to 8 KiB as pc does.
 * -m 0 means "default" to QEMU 7.2; we reject it as surely a mistake.
 */
function ramSize(ctx: string, text: string): bigint {
  // QEMU: "-m 12X: Parameter 'size' expects a non-negative number below 2^64"
  if (text === '') return DEFAULT_RAM; // QEMU: "-m ''" keeps the default
  const mibs = /\d$/.test(text);
  const r = tryParseSize(text);
  if (r.ok && mibs && r.value * MiB >= 1n << 64n) {
    // QEMU: "Parameter 'memory.size' expects size"
    throw new UserError(`${ctx}: size too large (a bare number means MiB; the limit is 16E minus one byte)`);
  }
  const size = mibs && r.ok ? r.value * MiB : parseSize(text, ctx);
  if (size === 0n) throw new UserError(`${ctx}: RAM size must be greater than 0 (e.g. -m 512M)`);
  return (size + 8191n) & ~8191n;
}

function slotCount(ctx: string, text: string): number {
  const n = parseUint(text);
  // QEMU: "Parameter 'slots' expects a number" / "unsupported amount of memory slots: 300"
  if (n === undefined || n > BigInt(MAX_SLOTS)) {
    throw new UserError(`${ctx}: slots must be an integer from 0 to ${MAX_SLOTS}, not '${text}'`);
  }
  return Number(n);
}

/** maxmem is a plain QEMU size: a bare number is BYTES, unlike -m SIZE. */
function maxmemSize(ctx: string, text: string): bigint {
  return parseSize(text, `${ctx}: maxmem`);
}

/** Hint for a tiny maxmem: the user probably wrote MiB as a bare number. */
export function bareMaxmemHint(maxmem: bigint): string {
  return maxmem < MiB ? `; note that a bare maxmem number means bytes, unlike -m (write maxmem=${maxmem}M for MiB)` : '';
}
