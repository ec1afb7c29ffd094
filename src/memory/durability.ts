/**
 * Does a guest's write to this backend survive a host crash, and why?
 * QEMU's nvdimm docs admit there is no way to tell from inside; pmemvm
 * decides from how the backend was really mapped, so the start-up banner
 * and the monitor can say it plainly.
 *
 * The modes:
 *  - devdax:          device DAX, no page cache: stores reach the media.
 *  - fsdax-map-sync:  file on a DAX filesystem mapped with MAP_SYNC: stores
 *                     reach the media and page faults commit the file's
 *                     block metadata first.
 *  - page-cache:      anything that needs msync/fsync to persist (plain
 *                     files, and DAX files mapped without MAP_SYNC whose
 *                     block allocations may be lost).
 *  - private:         share=off, a copy-on-write mapping: never reaches the file.
 *  - ram:             anonymous memory.
 */
import type { DaxMode } from './backend-mounts.js';

export type DurabilityMode = 'devdax' | 'fsdax-map-sync' | 'page-cache' | 'private' | 'ram';

export interface DurabilityReport {
  backend: string;
  path?: string;
  crashSafe: boolean;
  mode: DurabilityMode;
  reason: string;
}

/** What is known about a backend once it is mapped. */
export interface DurabilityFacts {
  backend: string;
  path?: string;
  kind: 'file' | 'ram';
  devdax: boolean;
  share: boolean;
  pmem: boolean;
  mapSync: boolean;
  readonly: boolean;
  discardData: boolean;
  /** mem-path was a directory: the file was unlinked at once. */
  temporary: boolean;
  /** DAX mount mode of the file's filesystem, null when unknown or not a file. */
  dax: DaxMode | null;
  fsType?: string;
  /** The device fsync()s the file whenever the guest flushes (virtio-pmem). */
  fsyncOnGuestFlush?: boolean;
  /** An NVDIMM with an NFIT flush hint (flush-hint=on): each guest flush is an fdatasync of the file. */
  flushHint?: FlushHintFacts;
}

/** A flush hint's record: failed fdatasyncs make the device no longer durable, for good (the page cache forgets). */
export interface FlushHintFacts {
  errors: number;
  /** The last failure's errno name, e.g. EIO. */
  lastError?: string;
}

export const PAGE_CACHE_ADVICE =
  'use unarmed=on, or virtio-pmem, or a DAX backend with pmem=on,share=on';

/** What an NVDIMM's flush hint does and does not cover: the guest must flush, and only a flush reaches the host. */
export const FLUSH_HINT_PROMISE =
  'what the guest flushes (fsync, fdatasync, msync, O_DSYNC writes, flushes of /dev/pmemN, deep_flush) is fdatasync()ed to the file ' +
  'before the flush returns (NFIT flush hint); NOT stores that a guest application persists with CPU cache flushes alone (MAP_SYNC), ' +
  'nor file systems mounted without barriers';

export function decideDurability(f: DurabilityFacts): DurabilityReport {
  const r = (crashSafe: boolean, mode: DurabilityMode, reason: string): DurabilityReport =>
    f.path === undefined ? { backend: f.backend, crashSafe, mode, reason } : { backend: f.backend, path: f.path, crashSafe, mode, reason };

  if (f.kind === 'ram') return r(false, 'ram', 'volatile: RAM backend, contents are lost when pmemvm exits');
  const mode: DurabilityMode = !f.share ? 'private' : f.devdax ? 'devdax' : f.mapSync ? 'fsdax-map-sync' : 'page-cache';
  // readonly=on decides before share: the guest's writes are refused, not discarded.
  if (f.readonly) return r(false, mode, 'guest writes are refused (readonly=on)');
  if (!f.share) return r(false, mode, 'guest writes are discarded (share=off)');
  if (f.temporary) return r(false, mode, 'the backing file is a temporary file, deleted at start: contents are lost when pmemvm exits');
  const devdax = 'device DAX: guest stores go straight to persistent memory, no page cache';
  // Device DAX has no page cache to skip and no blocks to free: discard-data=on changes nothing there.
  if (f.devdax) return r(true, mode, f.discardData ? `${devdax} (discard-data=on changes nothing on device DAX)` : devdax);
  if (f.discardData) return r(false, mode, 'guest writes are not kept (discard-data=on): guest flushes are not synced to the file, and its blocks are freed when pmemvm exits');
  if (f.flushHint && !f.mapSync) {
    const h = f.flushHint;
    if (h.errors > 0) {
      return r(false, mode, `a host fdatasync of the file failed (${h.lastError ?? 'error'}, ${h.errors} time${h.errors === 1 ? '' : 's'}): ` +
        'what the guest flushed may be lost, and the guest was not told; check the host storage and the file before trusting it');
    }
    return r(true, mode, FLUSH_HINT_PROMISE);
  }
  if (f.fsyncOnGuestFlush && !f.mapSync) {
    return r(true, mode, 'what the guest flushes (fsync, msync, a write barrier) is fsync()ed to the file before the flush returns');
  }
  if (f.mapSync) {
    return r(true, mode, `file on a DAX filesystem${f.fsType ? ` (${f.fsType})` : ''} mapped with MAP_SYNC: guest stores go straight to persistent memory and block metadata is committed on fault`);
  }
  if (f.pmem) {
    const why = f.dax === 'never' ? 'its filesystem is not mounted with -o dax' : 'the file is not DAX';
    return r(false, mode, `pmem=on but the kernel refused MAP_SYNC (${why}): guest writes sit in the host page cache; ${PAGE_CACHE_ADVICE}`);
  }
  if (f.dax === 'always') {
    return r(false, mode, 'file on a DAX filesystem mapped without MAP_SYNC: its block allocations may be lost in a host crash; add pmem=on');
  }
  return r(false, mode, `guest writes sit in the host page cache; ${PAGE_CACHE_ADVICE}`);
}

/** One banner line, e.g. "nv0: mem0 (/mnt/pmem/a.img) is crash-safe [fsdax-map-sync]: ...". */
export function formatDurability(deviceId: string, report: DurabilityReport): string {
  const where = report.path ? `${report.backend} (${report.path})` : report.backend;
  const verdict = report.crashSafe ? 'crash-safe' : 'not crash-safe';
  return `${deviceId}: ${where} is ${verdict} [${report.mode}]: ${report.reason}`;
}
