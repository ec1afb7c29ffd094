/**
 * A kernel or initrd file, read range by range straight into guest memory:
 * one copy and no file-sized buffer (a vmlinux is ~60 MB; under emulation
 * each copy of it costs most of a second). Mapping the file into guest RAM
 * instead was measured slower: the guest then faults each 4K page in through
 * the page cache, which made a vmlinux boot 4-8 s longer in the test host.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../errors.js';

export interface ImageFile {
  readonly path: string;
  readonly size: number;
  /** Fill `dest` with the file's bytes from `offset`; the range must lie inside the file. */
  readInto(offset: number, dest: Uint8Array): void;
  close(): void;
}

/** An image already in memory (tests, generated kernels). */
export function imageFromBytes(path: string, bytes: Uint8Array): ImageFile {
  return {
    path, size: bytes.length,
    readInto(offset, dest) {
      if (offset + dest.length > bytes.length) throw new RangeError(`read past the end of ${path}`);
      dest.set(bytes.subarray(offset, offset + dest.length));
    },
    close() {},
  };
}

/** Open `path` for reading; `what` names the option in error lines (-kernel, -initrd). */
export function openImageFile(path: string, what: string): ImageFile {
  const fail = (e: unknown): never => {
    throw new UserError(`${what} ${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  };
  let fd = -1, size = 0, isFile = false;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    isFile = st.isFile();
    size = st.size;
  } catch (e) { if (fd >= 0) closeSync(fd); fail(e); }
  if (!isFile) { closeSync(fd); fail('not a regular file'); }
  return {
    path, size,
    readInto(offset, dest) {
      for (let done = 0; done < dest.length;) {
        let n = 0;
        try { n = readSync(fd, dest, done, dest.length - done, offset + done); } catch (e) { fail(e); }
        if (n === 0) throw new UserError(`${what} ${path}: the file shrank while pmemvm was reading it`);
        done += n;
      }
    },
    close() { if (fd >= 0) { closeSync(fd); fd = -1; } },
  };
}
