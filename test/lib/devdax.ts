// Reads device DAX from a test: it has no read(), only mmap in its own granule (2 MiB).
import { createHash } from 'node:crypto';
import * as libc from '../../src/sys/libc.js';
import { mapBackend } from '../../src/memory/backend-map.js';

const TWO_MIB = 2 << 20;

/** sha256 of the first `len` bytes (a multiple of 2 MiB) of a device DAX. */
export function devdaxDigest(path: string, len: number): string {
  const fd = libc.open(path, libc.O_RDONLY);
  try {
    const { addr } = mapBackend({
      len, align: TWO_MIB, pageSize: libc.pageSize(), fd, share: true, readonly: true,
      mapSync: false, onSyncRefused: () => {},
    });
    try {
      return createHash('sha256').update(new Uint8Array(libc.view(addr, len))).digest('hex');
    } finally {
      libc.munmap(addr, len);
    }
  } finally {
    libc.close(fd);
  }
}
