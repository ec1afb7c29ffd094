/**
 * parseMemoryBackend(): the typed reading of -object memory-backend-file /
 * memory-backend-ram, with every QEMU check that needs no file access.
 * QEMU's message for each check is quoted next to it.
 */
import { UserError } from '../errors.js';
import { boolProp, rejectUnknown, sizeProp } from './props.js';
import { formatSize } from './size.js';
import type { ObjectSpec } from './vm-options.js';

/** Host page size assumed for 'align' (x86-64). */
export const PAGE_SIZE = 4096n;

export interface MemoryBackend {
  kind: 'file' | 'ram';
  id: string;
  /** Bytes, > 0. */
  size: bigint;
  /** File (or DAX device) mapped as guest memory; 'file' only. */
  memPath: string | undefined;
  /** MAP_SHARED: guest writes reach the file. Default off, as QEMU. */
  share: boolean;
  /** Mapping alignment in bytes (power of two, page multiple); 'file' only. */
  align: bigint | undefined;
  /** mem-path is real persistent memory: flush with pmem_persist semantics; 'file' only. */
  pmem: boolean;
  /** Map read-only; 'file' only. */
  readonly: boolean;
  /** Contents may be discarded on exit (no flush); 'file' only. */
  discardData: boolean;
  /** Touch every page at startup. */
  prealloc: boolean;
}

const COMMON = ['size', 'share', 'prealloc'];
const FILE_ONLY = ['mem-path', 'align', 'pmem', 'readonly', 'discard-data'];
const MEMORY_TYPES = ['memory-backend-file', 'memory-backend-ram'];

export function isMemoryBackend(obj: ObjectSpec): boolean {
  return MEMORY_TYPES.includes(obj.qomType);
}

export function parseMemoryBackend(obj: ObjectSpec): MemoryBackend {
  const ctx = `-object ${obj.arg}`;
  // QEMU: "Parameter 'qom-type' does not accept value 'foo'"
  if (!isMemoryBackend(obj)) {
    throw new UserError(`${ctx}: unsupported object type '${obj.qomType}' (pmemvm supports ${MEMORY_TYPES.join(' and ')})`);
  }
  const kind = obj.qomType === 'memory-backend-file' ? 'file' : 'ram';
  const p = obj.props;
  if (kind === 'ram') {
    // QEMU: "Invalid parameter 'mem-path'"
    const fileOnly = FILE_ONLY.find((k) => p.has(k));
    if (fileOnly) throw new UserError(`${ctx}: property '${fileOnly}' applies only to memory-backend-file`);
  }
  rejectUnknown(ctx, obj, kind === 'file' ? [...COMMON, ...FILE_ONLY] : COMMON, obj.qomType);

  const bool = (key: string): boolean => boolProp(ctx, key, p.get(key) ?? 'off');
  // QEMU: "Parameter 'size' is missing" (7.2 requires it even for an existing file)
  const sizeText = p.get('size');
  if (sizeText === undefined) throw new UserError(`${ctx}: missing size= (e.g. size=1G)`);
  const size = sizeProp(ctx, 'size', sizeText);
  // QEMU: "property 'size' of memory-backend-file doesn't take value '0'"
  if (size === 0n) throw new UserError(`${ctx}: property 'size' must be greater than 0 (e.g. size=1G)`);

  let memPath: string | undefined;
  let align: bigint | undefined;
  if (kind === 'file') {
    // QEMU: "Parameter 'mem-path' is missing"; with mem-path= (empty) it only
    // fails later with "can't open backing store  for guest RAM".
    memPath = p.get('mem-path');
    if (!memPath) throw new UserError(`${ctx}: missing mem-path= (the file or /dev/daxX.Y that holds the memory)`);
    const a = p.has('align') ? sizeProp(ctx, 'align', p.get('align')!) : 0n;
    align = a === 0n ? undefined : checkAlign(ctx, a); // 0 means default, as QEMU
  }
  const backend: MemoryBackend = {
    kind, id: obj.id, size, memPath, align,
    share: bool('share'), pmem: bool('pmem'), readonly: bool('readonly'),
    discardData: bool('discard-data'), prealloc: bool('prealloc'),
  };
  // QEMU 7.2 accepts this pair and then crashes (SIGSEGV) preallocating a read-only mapping.
  if (backend.readonly && backend.prealloc) {
    throw new UserError(`${ctx}: prealloc=on cannot be combined with readonly=on (preallocation writes to the memory)`);
  }
  return backend;
}

function checkAlign(ctx: string, align: bigint): bigint {
  // QEMU: "alignment 0x3000 must be a power of two"
  if ((align & (align - 1n)) !== 0n) {
    throw new UserError(`${ctx}: align=${formatSize(align)} must be a power of two (e.g. align=2M)`);
  }
  // QEMU: "alignment 0x3 must be multiples of page size 0x1000"
  if (align % PAGE_SIZE !== 0n) {
    throw new UserError(`${ctx}: align=${formatSize(align)} must be a multiple of the 4K page size (e.g. align=2M)`);
  }
  return align;
}
