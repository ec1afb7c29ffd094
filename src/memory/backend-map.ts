/**
 * Map a backend: at a host address aligned to `align` (so huge pages of the
 * file or THP line up with the guest's), shared or private, and with
 * MAP_SYNC when asked, falling back like QEMU when the kernel refuses it.
 */
import * as libc from '../sys/libc.js';

export interface MapRequest {
  len: number;
  align: number;
  pageSize: number;
  fd: number;          // -1: anonymous
  share: boolean;
  readonly: boolean;
  mapSync: boolean;    // try MAP_SHARED_VALIDATE|MAP_SYNC first
  /** Called once when MAP_SYNC is refused and pmemvm goes on without it. */
  onSyncRefused: (err: libc.SysError) => void;
}

export interface Mapping { addr: bigint; mapSync: boolean }

export function mapBackend(req: MapRequest): Mapping {
  const prot = libc.PROT_READ | (req.readonly ? 0 : libc.PROT_WRITE);
  const flags = (req.share ? libc.MAP_SHARED : libc.MAP_PRIVATE) |
    (req.fd < 0 ? libc.MAP_ANONYMOUS : 0) | libc.MAP_NORESERVE;
  const aligned = req.align > req.pageSize;

  // Reserve len + align of address space, then map over its aligned part.
  const reserveLen = aligned ? req.len + req.align : 0;
  const reserve = aligned
    ? libc.mmap(reserveLen, libc.PROT_NONE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_NORESERVE)
    : 0n;
  const at = aligned ? alignUp(reserve, BigInt(req.align)) : 0n;
  const map = (f: number): bigint =>
    aligned ? libc.mmapAt(at, req.len, prot, f, req.fd) : libc.mmap(req.len, prot, f, req.fd);

  try {
    let addr: bigint | undefined;
    let mapSync = false;
    if (req.mapSync && req.share && req.fd >= 0) {
      try {
        // MAP_SYNC is only honoured with MAP_SHARED_VALIDATE, which fails on unknown flags.
        addr = map((flags & ~libc.MAP_SHARED) | libc.MAP_SHARED_VALIDATE | libc.MAP_SYNC);
        mapSync = true;
      } catch (e) {
        // EOPNOTSUPP: not a DAX file; EINVAL: a kernel older than MAP_SHARED_VALIDATE.
        if (!(e instanceof libc.SysError) || (e.errno !== libc.ERRNO.EOPNOTSUPP && e.errno !== libc.ERRNO.EINVAL)) throw e;
        req.onSyncRefused(e);
      }
    }
    addr ??= map(flags);
    if (aligned) trim(reserve, reserveLen, at, req.len);
    adviseHugePages(addr, req.len);
    return { addr, mapSync };
  } catch (e) {
    if (aligned) libc.munmap(reserve, reserveLen);
    throw e;
  }
}

/**
 * MADV_HUGEPAGE on every mapping, guest RAM and backend files alike, as QEMU does for every RAM
 * block (physmem.c, ram_block_add; its backend file mappings show VmFlags `hg`). Anonymous
 * memory then gets transparent huge pages where the host allows them, and KVM maps the guest
 * with 2M pages (under nested virtualization each avoided 4K fault is an expensive exit). For a
 * file it changes how a guest's first touch of a page is read in: the kernel reads ahead a
 * huge page's worth (2 to 4 MiB) at the first fault instead of 128 KiB windows around each
 * one. Without it, a guest writing a fresh virtio-pmem backend page by page stalled on a
 * synchronous read at the same few pages in every run (its slowest flushes; bench/RESULTS.md,
 * session 26), where QEMU's guest did not. Refused for some mappings (THP compiled out,
 * hugetlbfs, device DAX): they are only slower.
 */
function adviseHugePages(addr: bigint, len: number): void {
  try { libc.madvise(addr, len, libc.MADV_HUGEPAGE); } catch { /* see above */ }
}

/** Give back the unused head and tail of the reservation. */
function trim(reserve: bigint, reserveLen: number, at: bigint, len: number): void {
  const head = Number(at - reserve);
  const tail = reserveLen - head - len;
  if (head > 0) libc.munmap(reserve, head);
  if (tail > 0) libc.munmap(at + BigInt(len), tail);
}

function alignUp(x: bigint, a: bigint): bigint { return (x + a - 1n) / a * a; }
