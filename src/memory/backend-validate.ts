/**
 * Every rule a backend spec must pass, checked before anything is created,
 * opened for writing or resized: when this throws, nothing on disk changed.
 * The result is a plan that openBackend carries out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { UserError } from '../errors.js';
import * as libc from '../sys/libc.js';
import type { BackendSpec } from './backend.js';
import { devDaxInfo, type DevDaxInfo } from './backend-devdax.js';
import { humanSize, isPowerOfTwo, sizeOption, sizeWithHex } from './backend-size.js';

/** What mem-path turned out to be. */
export type BackendTarget =
  | { type: 'ram' }
  | { type: 'existing'; path: string; realPath: string }
  | { type: 'create'; path: string; realPath: string }   // realPath: resolved parent + name
  | { type: 'tempdir'; path: string; realPath: string }  // realPath: the resolved directory
  | { type: 'devdax'; path: string; realPath: string; dax: DevDaxInfo };

export interface BackendPlan {
  size: number;
  align: number;
  pageSize: number;
  target: BackendTarget;
}

const TWO_MIB = 2n << 20n;

export function planBackend(spec: BackendSpec, pageSize = libc.pageSize()): BackendPlan {
  const fail = (msg: string): never => { throw new UserError(`memory backend '${spec.id}': ${msg}`); };
  const page = BigInt(pageSize);

  checkSize(spec, page, fail);
  const userAlign = checkAlign(spec, page, fail);

  if (spec.kind === 'ram') {
    if (spec.memPath !== undefined) fail('mem-path is only for memory-backend-file; drop it or use memory-backend-file');
    if (spec.pmem) fail('pmem=on is only for memory-backend-file; drop it or use memory-backend-file');
    if (spec.readonly) fail('readonly=on is only for memory-backend-file; drop it or use memory-backend-file');
    // Like QEMU's anonymous RAM: 2 MiB alignment lets THP and KVM use huge pages.
    const thp = spec.size % TWO_MIB === 0n ? TWO_MIB : page;
    return plan(spec, pageSize, max(page, userAlign, thp), { type: 'ram' });
  }

  const p = spec.memPath;
  if (p === undefined || p === '') return fail('memory-backend-file needs mem-path=FILE (a file, a directory or /dev/daxX.Y)');
  const target = inspectPath(spec, p, fail);
  let align = max(page, userAlign);
  if (target.type === 'devdax') align = max(align, target.dax.align);
  return plan(spec, pageSize, align, target);
}

function plan(spec: BackendSpec, pageSize: number, align: bigint, target: BackendTarget): BackendPlan {
  return { size: Number(spec.size), align: Number(align), pageSize, target };
}

function max(...xs: bigint[]): bigint { return xs.reduce((a, b) => (a > b ? a : b)); }

function checkSize(spec: BackendSpec, page: bigint, fail: (m: string) => never): void {
  const s = spec.size;
  if (s <= 0n) fail(`size must be greater than 0; give it as e.g. size=4G`);
  if (s > BigInt(Number.MAX_SAFE_INTEGER)) fail(`size=${humanSize(s)} is too big; the limit is ${humanSize(Number.MAX_SAFE_INTEGER + 1 - Number(page))}`);
  if (s % page !== 0n) {
    const up = (s + page - 1n) / page * page;
    fail(`size=${s} (${humanSize(s)}) is not a multiple of the page size ${humanSize(page)}; round it up to size=${sizeOption(up)}`);
  }
}

function checkAlign(spec: BackendSpec, page: bigint, fail: (m: string) => never): bigint {
  const a = spec.align;
  if (a === undefined) return page;
  const hex = `0x${a.toString(16)}`;
  // QEMU's order: first the page-size rule, then power of two.
  if (a <= 0n || a % page !== 0n) fail(`align=${hex} must be a multiple of the page size 0x${page.toString(16)}; use e.g. align=2M`);
  if (!isPowerOfTwo(a)) fail(`align=${hex} must be a power of two; use e.g. align=2M`);
  if (spec.size % a !== 0n) fail(`size=${humanSize(spec.size)} is not a multiple of align=${humanSize(a)}; make size a multiple of align`);
  return a;
}

function errnoOf(e: unknown): string { return (e as NodeJS.ErrnoException).code ?? 'EIO'; }

function inspectPath(spec: BackendSpec, p: string, fail: (m: string) => never): BackendTarget {
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(p, { bigint: true });
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') return planCreate(spec, p, fail);
    if (code === 'EACCES') return fail(`can't open backing store ${p} for guest RAM: Permission denied; let this user search every directory on the path`);
    if (code === 'ENOTDIR') return fail(`can't open backing store ${p} for guest RAM: a part of the path is not a directory`);
    return fail(`can't open backing store ${p} for guest RAM: ${code}`);
  }
  const realPath = fs.realpathSync(p);

  if (st.isDirectory()) {
    if (spec.readonly) fail(`mem-path=${p} is a directory, which would give a new empty file; readonly=on needs an existing file`);
    requireWritableDir(p, `can't create a file in directory ${p}`, fail);
    return { type: 'tempdir', path: p, realPath };
  }

  if (st.isFile()) {
    if (st.size !== spec.size) {
      fail(`backing store ${p} is ${sizeWithHex(st.size)} but size=${sizeWithHex(spec.size)}; ` +
        `pmemvm never resizes an existing file: use size=${sizeOption(st.size)}, or a mem-path that does not exist yet`);
    }
    return { type: 'existing', path: p, realPath };
  }

  if (st.isCharacterDevice()) {
    const dax = devDaxInfo(st.rdev);
    if (!dax) return fail(`${p} is a character device but not device DAX; mem-path takes a file, a directory or /dev/daxX.Y`);
    if (!spec.share) fail(`device DAX ${p} can only be mapped shared; add share=on`);
    if (spec.size > dax.size) fail(`size=${sizeWithHex(spec.size)} is larger than device DAX ${p} (${sizeWithHex(dax.size)}); use size=${sizeOption(dax.size)} or less`);
    // The kernel refuses a mapping of device DAX that is not aligned to its granule (QEMU 7.2
    // fails with "unable to map backing store for guest RAM: Invalid argument"): say why.
    if ((spec.align ?? 0n) < dax.align) {
      const given = spec.align === undefined ? 'the backend has no align=' : `align=${sizeOption(spec.align)}`;
      fail(`device DAX ${p} maps only in ${humanSize(dax.align)} units but ${given}; add align=${sizeOption(dax.align)}`);
    }
    if (spec.size % dax.align !== 0n) fail(`size=${humanSize(spec.size)} is not a multiple of the alignment of device DAX ${p} (${humanSize(dax.align)})`);
    return { type: 'devdax', path: p, realPath, dax };
  }

  return fail(`${p} is not a regular file, a directory or device DAX (/dev/daxX.Y)`);
}

function planCreate(spec: BackendSpec, p: string, fail: (m: string) => never): BackendTarget {
  if (spec.readonly) fail(`backing store ${p} does not exist; readonly=on needs an existing file`);
  const dir = path.dirname(p);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') return fail(`can't create backing store ${p}: directory ${dir} does not exist; create it first`);
    return fail(`can't create backing store ${p}: ${code === 'EACCES' ? 'Permission denied' : code}`);
  }
  if (!st.isDirectory()) fail(`can't create backing store ${p}: ${dir} is not a directory`);
  requireWritableDir(dir, `can't create backing store ${p}`, fail);
  return { type: 'create', path: p, realPath: path.join(fs.realpathSync(dir), path.basename(p)) };
}

function requireWritableDir(dir: string, what: string, fail: (m: string) => never): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'EROFS') fail(`${what}: ${dir} is on a read-only filesystem`);
    fail(`${what}: Permission denied (no write permission on ${dir})`);
  }
}
