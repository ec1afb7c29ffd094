// Reads device DAX from a test: it has no read(), only mmap in its own granule (2 MiB).
import { createHash } from 'node:crypto';
import * as libc from '../../src/sys/libc.js';
import { mapBackend } from '../../src/memory/backend-map.js';

const TWO_MIB = 2 << 20;

/** A copy of the first `len` bytes (a multiple of 2 MiB) of a device DAX. */
export function devdaxRead(path: string, len: number): Buffer {
  const fd = libc.open(path, libc.O_RDONLY);
  try {
    const { addr } = mapBackend({
      len, align: TWO_MIB, pageSize: libc.pageSize(), fd, share: true, readonly: true,
      mapSync: false, onSyncRefused: () => {},
    });
    try {
      return Buffer.from(new Uint8Array(libc.view(addr, len)));
    } finally {
      libc.munmap(addr, len);
    }
  } finally {
    libc.close(fd);
  }
}

/** sha256 of the first `len` bytes (a multiple of 2 MiB) of a device DAX. */
export function devdaxDigest(path: string, len: number): string {
  return createHash('sha256').update(devdaxRead(path, len)).digest('hex');
}
