// Backend-file helpers for tests and benchmarks: sparse files, reads at an offset, hashes.
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';

/** A sparse file of `size` bytes (no blocks written); returns its path. */
export function sparseFile(path: string, size: number): string {
  writeFileSync(path, '');
  const fd = openSync(path, 'r+');
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

/** `len` bytes at `offset` of a file. */
export function readAt(path: string, offset: number, len: number): Buffer {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(len);
  readSync(fd, b, 0, len, offset);
  closeSync(fd);
  return b;
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
