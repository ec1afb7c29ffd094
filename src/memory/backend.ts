/**
 * QEMU's memory-backend-file and memory-backend-ram: host memory that a
 * pc-dimm, nvdimm or virtio-pmem device shows to the guest.
 *
 * The backing file is the user's data. Every rule is checked before it is
 * touched (backend-validate.ts), and an existing file is never truncated or
 * extended: QEMU before 2.8 truncated a mismatched file and lost data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { UserError } from '../errors.js';
import * as libc from '../sys/libc.js';
import { libpmemProblem, persist } from '../sys/libpmem.js';
import { mapBackend } from './backend-map.js';
import { mountOfPath } from './backend-mounts.js';
import { planBackend, type BackendPlan } from './backend-validate.js';
import { decideDurability, type DurabilityFacts, type DurabilityReport, type FlushHintFacts } from './durability.js';

export interface BackendSpec {
  id: string;
  kind: 'file' | 'ram';
  size: bigint;            // required, > 0
  memPath?: string;        // a regular file, a directory (temporary file inside) or /dev/daxX.Y
  share: boolean;          // QEMU's default for memory-backend-file is share=off
  align?: bigint;          // mapping alignment (power of two)
  pmem: boolean;           // real persistent memory: map with MAP_SYNC
  readonly: boolean;       // open O_RDONLY, map read-only
  discardData: boolean;    // QEMU discard-data: do not write back
  prealloc?: boolean;      // QEMU prealloc=on: every page allocated before the guest runs
}

export interface MemoryBackend {
  readonly id: string;
  readonly spec: BackendSpec;
  readonly size: number;
  readonly hostAddr: bigint;
  readonly fd: number;             // -1 for ram
  readonly align: number;          // alignment the device-memory allocator must honour
  readonly mapSync: boolean;       // really mapped with MAP_SYNC
  /** The file pmemvm created for this backend (it did not exist), else null. */
  readonly createdPath: string | null;
  /**
   * `fsyncOnGuestFlush`: for a device that fsyncs the file at each guest flush (virtio-pmem);
   * `flushHint`: an NVDIMM whose flush hint fdatasyncs the file, and its failures.
   */
  durability(opts?: { fsyncOnGuestFlush?: boolean; flushHint?: FlushHintFacts }): DurabilityReport;
  /**
   * The fd whose fdatasync makes guest writes durable, or -1 when a guest
   * flush has nothing to do on the host: no file written back (ram, share=off,
   * readonly, discard-data), or stores that reach the media as they are
   * (device DAX, MAP_SYNC).
   */
  readonly guestFlushFd: number;
  /** Make [offset, offset+len) durable (msync + fsync on shared file mappings). Throws SysError on EIO. */
  flush(offset?: number, len?: number): void;
  close(): void;
  view(offset: number, len: number): Uint8Array;
}

export interface OpenOptions {
  /** Where the one-line MAP_SYNC fallback warning goes; default stderr. */
  warn?: (message: string) => void;
}

const VIEW_MAX = 1 << 30;

export function openBackend(spec: BackendSpec, opts: OpenOptions = {}): MemoryBackend {
  const plan = planBackend(spec);
  const warn = opts.warn ?? ((m: string) => fs.writeSync(2, `pmemvm: warning: ${m}\n`));
  const t = plan.target;

  // pmem=on on device DAX: pmemvm's own stores (labels) are persisted with libpmem, as QEMU does.
  if (t.type === 'devdax' && spec.pmem && spec.share && !spec.readonly) {
    const problem = libpmemProblem();
    if (problem) throw new UserError(`memory backend '${spec.id}': pmem=on on device DAX ${t.path} needs ${problem}`);
  }
  let fd = -1;
  let created: string | null = null;
  try {
    if (t.type !== 'ram') ({ fd, created } = openTarget(spec, plan));
    const { addr, mapSync } = mapOrExplain(spec, plan, fd, warn);
    if (spec.prealloc) preallocate(spec, addr, plan.size);
    const mount = t.type === 'ram' || t.type === 'devdax' ? null : mountOfPath(t.realPath);
    const facts: DurabilityFacts = {
      backend: spec.id,
      ...(t.type === 'ram' ? {} : { path: t.path }),
      kind: spec.kind,
      devdax: t.type === 'devdax',
      share: spec.share,
      pmem: spec.pmem,
      mapSync,
      readonly: spec.readonly,
      discardData: spec.discardData,
      temporary: t.type === 'tempdir',
      dax: mount?.dax ?? null,
      ...(mount ? { fsType: mount.fsType } : {}),
    };
    return new MappedBackend(spec, plan, addr, fd, mapSync, facts, created);
  } catch (e) {
    if (fd >= 0) libc.close(fd);
    if (created) fs.rmSync(created, { force: true }); // like QEMU's unlink_on_error
    throw e;
  }
}

function openTarget(spec: BackendSpec, plan: BackendPlan): { fd: number; created: string | null } {
  const t = plan.target;
  const { O_CREAT, O_EXCL } = fs.constants;
  switch (t.type) {
    case 'create': {
      const fd = openOrExplain(spec, t.path, libc.O_RDWR | O_CREAT | O_EXCL, 0o644);
      try {
        setSize(spec, t.path, fd, plan.size); // sparse: no blocks written
      } catch (e) {
        libc.close(fd);
        fs.rmSync(t.path, { force: true });
        throw e;
      }
      return { fd, created: t.path };
    }
    case 'tempdir': {
      // Like QEMU: a private file nobody else can find, gone when we exit. The random part from
      // Web Crypto's global, loaded only here (node:crypto at every start cost, session 25).
      const name = path.join(t.path, `pmemvm_back_mem.${spec.id.replace(/\//g, '_')}.${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString('hex')}`);
      const fd = openOrExplain(spec, name, libc.O_RDWR | O_CREAT | O_EXCL, 0o600);
      fs.unlinkSync(name);
      try {
        setSize(spec, t.path, fd, plan.size);
      } catch (e) {
        libc.close(fd);
        throw e;
      }
      return { fd, created: null };
    }
    case 'existing':
    case 'devdax': {
      // share=off never writes the file, so it needs no write access either.
      const writable = spec.share && !spec.readonly;
      const fd = openOrExplain(spec, t.path, writable ? libc.O_RDWR : libc.O_RDONLY);
      if (t.type === 'existing' && BigInt(fs.fstatSync(fd).size) !== spec.size) {
        libc.close(fd);
        throw new UserError(`memory backend '${spec.id}': backing store ${t.path} changed size while it was being opened`);
      }
      return { fd, created: null };
    }
    default:
      throw new Error(`no file to open for ${t.type}`);
  }
}

/** Size a file pmemvm just created (never one the user had). */
function setSize(spec: BackendSpec, where: string, fd: number, size: number): void {
  try {
    fs.ftruncateSync(fd, size);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new UserError(`memory backend '${spec.id}': can't make a ${size}-byte backing store in ${where}: ${code}`);
  }
}

function openOrExplain(spec: BackendSpec, p: string, flags: number, mode = 0): number {
  try {
    return libc.open(p, flags, mode);
  } catch (e) {
    if (!(e instanceof libc.SysError)) throw e;
    const head = `memory backend '${spec.id}': can't open backing store ${p} for guest RAM`;
    if (e.code === 'EACCES' || e.code === 'EPERM') {
      const hint = spec.share && !spec.readonly
        ? 'give this user write access, or use readonly=on or share=off'
        : 'give this user read access';
      throw new UserError(`${head}: Permission denied; ${hint}`);
    }
    if (e.code === 'EROFS') throw new UserError(`${head}: read-only filesystem; use readonly=on or share=off`);
    throw new UserError(`${head}: ${e.code}`);
  }
}

/** The file behind fd as the kernel names it (QEMU's warning does the same). */
function fdPath(fd: number): string {
  try { return fs.readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; }
}

function mapOrExplain(spec: BackendSpec, plan: BackendPlan, fd: number, warn: (m: string) => void) {
  try {
    return mapBackend({
      len: plan.size, align: plan.align, pageSize: plan.pageSize, fd,
      share: spec.share, readonly: spec.readonly, mapSync: spec.pmem,
      // QEMU's own words (util/mmap-alloc.c), so users can search for them.
      onSyncRefused: () => warn(`requesting persistence across crashes for backend file ${fdPath(fd)} failed. ` +
        'Proceeding without persistence, data might become corrupted in case of host crash.'),
    });
  } catch (e) {
    if (!(e instanceof libc.SysError)) throw e;
    throw new UserError(`memory backend '${spec.id}': unable to map backing store for guest RAM: ${e.code}`);
  }
}

/**
 * prealloc=on: fault every page in, writable, before the guest runs (QEMU's
 * os_mem_prealloc touches each page), so a full file system or a memory limit
 * fails here with a message instead of killing the guest later. The contents
 * stay as they are. On failure the mapping is removed.
 */
function preallocate(spec: BackendSpec, addr: bigint, size: number): void {
  try {
    libc.madvise(addr, size, libc.MADV_POPULATE_WRITE);
  } catch (e) {
    libc.munmap(addr, size);
    if (!(e instanceof libc.SysError)) throw e;
    const why = e.code === 'EFAULT' || e.code === 'EIO' ? 'the backing file system may be full' : e.code === 'ENOMEM' ? 'not enough memory' : e.code;
    throw new UserError(`memory backend '${spec.id}': preallocating ${size} bytes failed (${e.code}: ${why}); make room, or leave out prealloc=on`);
  }
}

class MappedBackend implements MemoryBackend {
  readonly id: string;
  readonly size: number;
  readonly align: number;
  private closed = false;

  constructor(readonly spec: BackendSpec, private readonly plan: BackendPlan, readonly hostAddr: bigint,
    readonly fd: number, readonly mapSync: boolean, private readonly facts: DurabilityFacts,
    readonly createdPath: string | null) {
    this.id = spec.id;
    this.size = plan.size;
    this.align = plan.align;
  }

  durability(opts: { fsyncOnGuestFlush?: boolean; flushHint?: FlushHintFacts } = {}): DurabilityReport {
    return decideDurability({ ...this.facts, ...opts });
  }

  get guestFlushFd(): number {
    return this.writesBack && !this.mapSync && this.plan.target.type !== 'devdax' ? this.fd : -1;
  }

  /** Writes that can and should reach the file: a shared, writable, kept file mapping. */
  private get writesBack(): boolean {
    const s = this.spec;
    return this.fd >= 0 && s.share && !s.readonly && !s.discardData;
  }

  flush(offset = 0, len = this.size - offset): void {
    this.check(offset, len);
    if (!this.writesBack || len === 0) return;
    // Device DAX has no page cache and no fsync (msync says EINVAL): a store is durable
    // once out of the CPU caches, so write the lines back (pmem_persist), as QEMU does.
    if (this.plan.target.type === 'devdax') {
      if (libpmemProblem() === null) persist(this.hostAddr + BigInt(offset), len);
      return;
    }
    const page = this.plan.pageSize;
    const start = Math.floor(offset / page) * page;
    const end = Math.ceil((offset + len) / page) * page;
    libc.msync(this.hostAddr + BigInt(start), end - start);
    libc.fsync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    let failure: unknown = null;
    // Device DAX: nothing is cached on the host's side; the guest wrote back its own stores.
    if (this.writesBack && this.plan.target.type !== 'devdax') {
      try { this.flush(); } catch (e) { failure = e; }
    } else if (this.fd >= 0 && this.spec.share && this.spec.discardData && !this.spec.readonly && this.plan.target.type !== 'devdax') {
      // discard-data=on: free the blocks rather than write them back, as QEMU does at exit.
      try { libc.madvise(this.hostAddr, this.size, libc.MADV_REMOVE); } catch { /* only an optimisation */ }
    }
    this.closed = true;
    libc.munmap(this.hostAddr, this.size);
    if (this.fd >= 0) libc.close(this.fd);
    if (failure) throw failure;
  }

  view(offset: number, len: number): Uint8Array {
    this.check(offset, len);
    if (len > VIEW_MAX) throw new RangeError(`memory backend '${this.id}': view of ${len} bytes is over 1 GiB`);
    return new Uint8Array(libc.view(this.hostAddr + BigInt(offset), len));
  }

  private check(offset: number, len: number): void {
    if (this.closed) throw new Error(`memory backend '${this.id}' is closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 || offset + len > this.size) {
      throw new RangeError(`memory backend '${this.id}': range 0x${offset.toString(16)}+0x${len.toString(16)} is outside its 0x${this.size.toString(16)} bytes`);
    }
  }
}
