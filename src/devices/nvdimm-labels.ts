/**
 * The namespace label format Linux writes into an NVDIMM's label area
 * (UEFI 2.7 "Label Storage Area", as in Linux drivers/nvdimm/label.h):
 * two namespace index blocks (the valid one with the newer sequence number
 * is current), then a slot array of labels (128-byte v1.1 or 256-byte v1.2).
 * Index blocks and v1.2 labels carry a Fletcher-64 checksum.
 *
 * Pure decoding, for `pmemvm img` and for the start-up check that refuses to
 * hide a disk's data behind a new label area.
 */

export const INDEX_SIG = 'NAMESPACE_INDEX\0';
const INDEX_HEADER = 72; // bytes before the free bitmap
const INDEX_ALIGN = 256;

/** Fletcher-64 over little-endian 32-bit words, as Linux's nd_fletcher64(). */
export function fletcher64(bytes: Uint8Array): bigint {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lo = 0;
  let hi = 0;
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    lo = (lo + v.getUint32(i, true)) >>> 0;
    hi = (hi + lo) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Checksum of a block whose own checksum field (8 bytes at `at`) counts as zero. */
function checksumWithout(block: Uint8Array, at: number): bigint {
  const copy = block.slice();
  copy.fill(0, at, at + 8);
  return fletcher64(copy);
}

export interface IndexBlock {
  offset: number;
  valid: boolean;
  problems: string[];
  seq: number;
  myoff: bigint;
  mysize: bigint;
  otheroff: bigint;
  labeloff: bigint;
  nslot: number;
  major: number;
  minor: number;
  labelSize: number;
  checksum: bigint;
  /** Slot numbers in use (free bit clear). */
  used: number[];
}

export interface Label {
  slot: number;
  valid: boolean;
  problems: string[];
  uuid: string;
  name: string;
  flags: number;
  nlabel: number;
  position: number;
  isetCookie: bigint;
  lbaSize: bigint;
  dpa: bigint;
  rawSize: bigint;
  /** v1.2: the namespace type GUID and abstraction (btt, pfn, dax...) GUID. */
  typeGuid?: string;
  abstractionGuid?: string;
}

export interface LabelAreaInfo {
  size: number;
  state: 'empty' | 'labels' | 'unknown-data';
  indexes: IndexBlock[];
  /** The current index (valid, newest sequence), if any. */
  current: IndexBlock | null;
  labels: Label[];
  /** Bytes that are not zero (for 'unknown-data'). */
  nonZeroBytes: number;
}

/** Index block size Linux uses for an area of `size` bytes with labels of `labelSize`. */
export function indexBlockSize(size: number, labelSize: number): number {
  const sizeFor = (nslot: number) => Math.ceil((INDEX_HEADER + Math.ceil(nslot / 8)) / INDEX_ALIGN) * INDEX_ALIGN;
  const tmp = Math.floor(size / labelSize);
  const nslot = tmp - sizeFor(tmp) / INDEX_ALIGN;
  return sizeFor(nslot);
}

function decodeIndex(area: Uint8Array, offset: number): IndexBlock | null {
  if (offset + INDEX_HEADER > area.length) return null;
  const b = area.subarray(offset);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const sig = new TextDecoder('latin1').decode(b.subarray(0, 16));
  if (sig !== INDEX_SIG) return null;
  const problems: string[] = [];
  const minor = v.getUint16(62, true);
  const major = v.getUint16(60, true);
  const labelSize = minor >= 2 ? 1 << (7 + b[19]!) : 128;
  const mysize = v.getBigUint64(32, true);
  const nslot = v.getUint32(56, true);
  const idx: IndexBlock = {
    offset, valid: false, problems, seq: v.getUint32(20, true), myoff: v.getBigUint64(24, true), mysize,
    otheroff: v.getBigUint64(40, true), labeloff: v.getBigUint64(48, true), nslot, major, minor, labelSize,
    checksum: v.getBigUint64(64, true), used: [],
  };
  if (major !== 1 || (minor !== 1 && minor !== 2)) problems.push(`unknown version ${major}.${minor}`);
  if (mysize < BigInt(INDEX_HEADER) || mysize > BigInt(area.length / 2) || Number(mysize) % INDEX_ALIGN !== 0) {
    problems.push(`bad index size ${mysize}`);
  } else if (offset + Number(mysize) > area.length) {
    problems.push('index runs past the area');
  } else {
    const block = area.subarray(offset, offset + Number(mysize));
    const sum = checksumWithout(block, 64);
    if (sum !== idx.checksum) problems.push(`checksum 0x${idx.checksum.toString(16)} should be 0x${sum.toString(16)}`);
    if (INDEX_HEADER + Math.ceil(nslot / 8) > Number(mysize)) problems.push(`free bitmap for ${nslot} slots does not fit`);
    else {
      for (let s = 0; s < nslot; s++) if (!(b[INDEX_HEADER + (s >> 3)]! & (1 << (s & 7)))) idx.used.push(s);
    }
  }
  if ((idx.seq & 3) === 0) problems.push(`sequence number ${idx.seq} is invalid`);
  if (idx.myoff !== BigInt(offset)) problems.push(`myoff ${idx.myoff} but found at ${offset}`);
  if (idx.labeloff + BigInt(nslot) * BigInt(labelSize) > BigInt(area.length)) problems.push('labels run past the area');
  idx.valid = problems.length === 0;
  return idx;
}

/** Linux's sequence order: 1 < 2 < 3 < 1 (nd_inc_seq cycles through 1, 2, 3). */
function newer(a: number, b: number): boolean {
  const next = (s: number) => (s % 3) + 1;
  return next(b & 3) === (a & 3);
}

function uuidText(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Mixed-endian GUID text (the first three fields little-endian), as Linux prints guid_t. */
function guidText(b: Uint8Array): string {
  const r = (x: Uint8Array) => Buffer.from(x).reverse().toString('hex');
  const h = Buffer.from(b).toString('hex');
  return `${r(b.subarray(0, 4))}-${r(b.subarray(4, 6))}-${r(b.subarray(6, 8))}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function decodeLabel(area: Uint8Array, at: number, slot: number, size: number): Label {
  const b = area.subarray(at, at + size);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const problems: string[] = [];
  const nameEnd = b.subarray(16, 80).indexOf(0);
  const label: Label = {
    slot, valid: false, problems,
    uuid: uuidText(b.subarray(0, 16)),
    name: new TextDecoder().decode(b.subarray(16, 16 + (nameEnd < 0 ? 64 : nameEnd))),
    flags: v.getUint32(80, true), nlabel: v.getUint16(84, true), position: v.getUint16(86, true),
    isetCookie: v.getBigUint64(88, true), lbaSize: v.getBigUint64(96, true), dpa: v.getBigUint64(104, true),
    rawSize: v.getBigUint64(112, true),
  };
  if (v.getUint32(120, true) !== slot) problems.push(`slot field ${v.getUint32(120, true)} in slot ${slot}`);
  if (size >= 256) {
    label.typeGuid = guidText(b.subarray(128, 144));
    label.abstractionGuid = guidText(b.subarray(144, 160));
    const sum = checksumWithout(b, 248);
    const stored = v.getBigUint64(248, true);
    if (sum !== stored) problems.push(`checksum 0x${stored.toString(16)} should be 0x${sum.toString(16)}`);
  }
  label.valid = problems.length === 0;
  return label;
}

/** Decode a whole label area (the last label-size bytes of a backend). */
export function decodeLabelArea(area: Uint8Array): LabelAreaInfo {
  let nonZeroBytes = 0;
  for (const x of area) if (x !== 0) nonZeroBytes++;
  const info: LabelAreaInfo = { size: area.length, state: 'empty', indexes: [], current: null, labels: [], nonZeroBytes };
  if (nonZeroBytes === 0) return info;

  // Index 0 is at the start; index 1 right after it (where index 0 says, or where Linux would put it).
  const first = decodeIndex(area, 0);
  const candidates = new Set<number>();
  if (first && first.mysize > 0n && first.mysize <= BigInt(area.length / 2)) candidates.add(Number(first.mysize));
  for (const ls of [256, 128]) candidates.add(indexBlockSize(area.length, ls));
  let second: IndexBlock | null = null;
  for (const off of candidates) {
    second = decodeIndex(area, off);
    if (second) break;
  }
  info.indexes = [first, second].filter((x): x is IndexBlock => x !== null);
  const valid = info.indexes.filter((i) => i.valid);
  info.current = valid.length === 2 ? (newer(valid[1]!.seq, valid[0]!.seq) ? valid[1]! : valid[0]!) : (valid[0] ?? null);
  if (!info.current) {
    info.state = 'unknown-data';
    return info;
  }
  info.state = 'labels';
  const cur = info.current;
  for (const slot of cur.used) {
    const at = Number(cur.labeloff) + slot * cur.labelSize;
    if (at + cur.labelSize <= area.length) info.labels.push(decodeLabel(area, at, slot, cur.labelSize));
  }
  return info;
}
