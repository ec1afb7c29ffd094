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
    return { addr, mapSync };
  } catch (e) {
    if (aligned) libc.munmap(reserve, reserveLen);
    throw e;
  }
}

/** Give back the unused head and tail of the reservation. */
function trim(reserve: bigint, reserveLen: number, at: bigint, len: number): void {
  const head = Number(at - reserve);
  const tail = reserveLen - head - len;
  if (head > 0) libc.munmap(reserve, head);
  if (tail > 0) libc.munmap(at + BigInt(len), tail);
}

function alignUp(x: bigint, a: bigint): bigint { return (x + a - 1n) / a * a; }
