/**
 * `pmemvm img`: offline tools for NVDIMM backend files, like qemu-img and
 * `ndctl` offline. The label area is taken to be the file's last
 * --label-size bytes (default 128K), where pmemvm and QEMU keep it when the
 * rest of the file is page aligned.
 *
 *   pmemvm img create FILE SIZE                 sparse file; never touches an existing one
 *   pmemvm img info FILE [--label-size=SZ] [--json]
 *   pmemvm img check FILE [--label-size=SZ]     exit 0 if the labels are sound, 1 if not
 */
import * as fs from 'node:fs';
import { UserError } from '../errors.js';
import { decodeLabelArea, type IndexBlock, type Label, type LabelAreaInfo } from '../devices/nvdimm-labels.js';
import { formatSize, parseSize, sizeToNumber } from './size.js';

export const IMG_USAGE = `usage: pmemvm img create FILE SIZE
       pmemvm img info FILE [--label-size=SIZE] [--json]
       pmemvm img check FILE [--label-size=SIZE]`;

/** Namespace modes by the v1.2 label's abstraction GUID (Linux's claim classes). */
const ABSTRACTIONS: Record<string, string> = {
  '266400ba-fb9f-4677-bcb0-968f11d0d225': 'fsdax',
  '97a86d9c-3cdd-4eda-986f-5068b4f80088': 'devdax',
  '8aed63a2-29a2-4c66-8b12-f05d15d3922a': 'sector',
  '18633bfc-1735-4217-8ac9-17239282d3f8': 'sector',
  '00000000-0000-0000-0000-000000000000': 'raw',
};

export function imgMain(args: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const [cmd, ...rest] = args;
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') { out(IMG_USAGE + '\n'); return 0; }
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (const a of rest) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) flags.set(m[1]!, m[2] ?? 'on');
    else positional.push(a);
  }
  for (const k of flags.keys()) {
    if (!['label-size', 'json'].includes(k)) throw new UserError(`img: unknown option --${k} (info and check take --label-size=SIZE, info also --json)`);
  }
  switch (cmd) {
    case 'create': return create(positional);
    case 'info': return info(positional, flags, out);
    case 'check': return check(positional, flags, out);
    default: throw new UserError(`img: ${cmd ? `unknown command '${cmd}'` : 'no command'}; use create, info or check (pmemvm img --help)`);
  }
}

function create(pos: string[]): number {
  const [file, sizeText] = pos;
  if (!file || !sizeText || pos.length > 2) throw new UserError('img create: needs FILE and SIZE, e.g. pmemvm img create nvdimm.img 4G');
  const size = sizeToNumber(parseSize(sizeText, 'img create: SIZE'), 'img create: SIZE');
  if (size <= 0 || size % 4096 !== 0) throw new UserError(`img create: SIZE must be a positive multiple of 4K, not ${sizeText}`);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UserError(`img create: ${file} already exists; pmemvm never resizes or overwrites a backend`);
    throw new UserError(`img create: cannot create ${file}: ${code}`);
  }
  try { fs.ftruncateSync(fd, size); } finally { fs.closeSync(fd); }
  return 0;
}

function readArea(pos: string[], flags: Map<string, string>): { file: string; fileSize: number; labelSize: number; area: LabelAreaInfo } {
  const [file] = pos;
  if (!file || pos.length > 1) throw new UserError('img: needs one FILE, e.g. pmemvm img info nvdimm.img --label-size=128K');
  const labelSize = sizeToNumber(parseSize(flags.get('label-size') ?? '128K', '--label-size'), '--label-size');
  if (labelSize < 128 * 1024) throw new UserError('img: --label-size must be at least 128K, as for -device nvdimm');
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch (e) {
    throw new UserError(`img: cannot open ${file}: ${(e as NodeJS.ErrnoException).code}`);
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < labelSize) throw new UserError(`img: ${file} (${fileSize} bytes) is smaller than the ${labelSize}-byte label area`);
    const buf = new Uint8Array(labelSize);
    fs.readSync(fd, buf, 0, labelSize, fileSize - labelSize);
    return { file, fileSize, labelSize, area: decodeLabelArea(buf) };
  } finally {
    fs.closeSync(fd);
  }
}

export function modeOf(l: Label): string {
  return l.abstractionGuid ? (ABSTRACTIONS[l.abstractionGuid] ?? `unknown (${l.abstractionGuid})`) : 'not recorded (v1.1 label)';
}

function indexLine(i: IndexBlock, current: boolean): string {
  const state = i.valid ? (current ? 'valid, current' : 'valid') : `INVALID: ${i.problems.join('; ')}`;
  return `index at +0x${i.offset.toString(16)}: seq ${i.seq}, v${i.major}.${i.minor}, ${i.labelSize}-byte labels, ` +
    `${i.nslot} slots (${i.used.length} used), checksum 0x${i.checksum.toString(16)}: ${state}`;
}

function labelLine(l: Label, labelOff: number): string {
  const state = l.valid ? 'valid' : `INVALID: ${l.problems.join('; ')}`;
  return `label slot ${l.slot} at +0x${labelOff.toString(16)}: uuid ${l.uuid}, name "${l.name}", mode ${modeOf(l)}, ` +
    `dpa 0x${l.dpa.toString(16)}, size ${formatSize(l.rawSize)}, position ${l.position}/${l.nlabel}, flags 0x${l.flags.toString(16)}: ${state}`;
}

function info(pos: string[], flags: Map<string, string>, out: (s: string) => void): number {
  const r = readArea(pos, flags);
  const a = r.area;
  if (flags.has('json')) {
    out(JSON.stringify({ file: r.file, fileSize: r.fileSize, labelSize: r.labelSize, labelOffset: r.fileSize - r.labelSize, ...a,
      labels: a.labels.map((l) => ({ ...l, mode: modeOf(l) })) }, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n');
    return 0;
  }
  const lines = [`${r.file}: ${formatSize(BigInt(r.fileSize))}, label area ${formatSize(BigInt(r.labelSize))} at 0x${(r.fileSize - r.labelSize).toString(16)}`];
  switch (a.state) {
    case 'empty': lines.push('label area is blank (all zero): no labels yet; `ndctl init-labels` in a guest writes them'); break;
    case 'unknown-data': lines.push(`label area holds ${a.nonZeroBytes} non-zero bytes but no valid namespace index`); break;
    case 'labels': lines.push(`${a.labels.length} namespace label(s)`); break;
  }
  for (const i of a.indexes) lines.push(indexLine(i, i === a.current));
  for (const l of a.labels) lines.push(labelLine(l, Number(a.current!.labeloff) + l.slot * a.current!.labelSize));
  out(lines.join('\n') + '\n');
  return 0;
}

function check(pos: string[], flags: Map<string, string>, out: (s: string) => void): number {
  const r = readArea(pos, flags);
  const a = r.area;
  const problems: string[] = [];
  if (a.state === 'unknown-data') problems.push(`the label area holds ${a.nonZeroBytes} non-zero bytes but no valid namespace index`);
  for (const i of a.indexes) if (!i.valid) problems.push(`index at +0x${i.offset.toString(16)}: ${i.problems.join('; ')}`);
  if (a.state === 'labels' && a.indexes.length < 2) problems.push('only one namespace index block found');
  for (const l of a.labels) if (!l.valid) problems.push(`label slot ${l.slot}: ${l.problems.join('; ')}`);
  if (problems.length === 0) {
    out(`${r.file}: label area ${a.state === 'empty' ? 'blank' : `sound, ${a.labels.length} label(s)`}\n`);
    return 0;
  }
  out(problems.map((p) => `${r.file}: ${p}`).join('\n') + '\n');
  return 1;
}
