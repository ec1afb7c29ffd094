// Minimal newc ("070701") cpio writer, enough to append /run.sh (and a few files) to the
// guest initrd: the kernel unpacks concatenated archives, later entries win.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CpioEntry {
  /** Path inside the archive, without leading slash (e.g. "run.sh", "etc/x"). */
  name: string;
  /** File contents; omit for a directory. */
  data?: string | Uint8Array;
  /** Permission bits (default 0o755 for dirs, 0o644 for files). */
  mode?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Zero bytes that bring `len` up to a multiple of 4 (newc aligns header+name and data). */
function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function header(ino: number, mode: number, size: number, nameLen: number, nlink: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return '070701' + [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, nameLen, 0].map(hex8).join('');
}

function record(ino: number, name: string, mode: number, data: Buffer, nlink: number): Buffer {
  const nameBuf = Buffer.from(name + '\0');
  const head = Buffer.concat([Buffer.from(header(ino, mode, data.length, nameBuf.length, nlink)), nameBuf]);
  return Buffer.concat([head, pad4(head.length), data, pad4(data.length)]);
}

/** An uncompressed newc archive of the entries, ending with TRAILER!!!. */
export function newcArchive(entries: CpioEntry[]): Buffer {
  const parts = entries.map((e, i) => {
    const name = e.name.replace(/^\/+/, '');
    if (e.data === undefined) return record(i + 1, name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), 2);
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data);
    return record(i + 1, name, S_IFREG | (e.mode ?? 0o644), data, 1);
  });
  parts.push(record(0, 'TRAILER!!!', 0, Buffer.alloc(0), 1));
  const all = Buffer.concat(parts);
  // The kernel wants each appended archive to start 4-aligned; pad the whole to 512 like cpio(1).
  return Buffer.concat([all, Buffer.alloc((512 - (all.length % 512)) % 512)]);
}

/**
 * Writes a temp initrd = base initrd bytes + a newc archive holding /run.sh (mode 755) and
 * extraFiles; returns its path. Works whether the base is gzip or plain cpio: the kernel
 * decompresses each concatenated segment on its own (verified with the gzip guest initrd).
 */
export async function makeScriptInitrd(baseInitrd: string, script: string, extraFiles: CpioEntry[] = []): Promise<string> {
  const base = await readFile(baseInitrd);
  const extra = newcArchive([{ name: 'run.sh', data: script, mode: 0o755 }, ...extraFiles]);
  // A compressed base may end unaligned; zero padding between archives is skipped by the kernel.
  const dir = await mkdtemp(join(tmpdir(), 'pmemvm-initrd-'));
  const out = join(dir, 'initrd.img');
  await writeFile(out, Buffer.concat([base, pad4(base.length), extra]));
  return out;
}
