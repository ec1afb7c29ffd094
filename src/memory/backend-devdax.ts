/**
 * Device DAX (/dev/daxX.Y): a character device whose size and mapping
 * alignment are only told by sysfs (st_size of a char device is 0). Like
 * QEMU, look under /sys/dev/char/MAJ:MIN: `subsystem` links to the dax
 * class/bus, `size` is the byte size, `align` (Linux ≥ 5.10) the mapping
 * granule; older kernels only offer 2 MiB.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEVDAX_DEFAULT_ALIGN = 2 * 1024 * 1024;

export interface DevDaxInfo {
  size: bigint;
  align: bigint;
  sysfs: string;
}

/** major/minor of a dev_t as glibc's gnu_dev_major/minor decode it. */
export function devMajorMinor(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev & 0xfff00n) >> 8n) | ((rdev & 0xfffff000_00000000n) >> 32n);
  const minor = (rdev & 0xffn) | ((rdev & 0xfff_fff00000n) >> 12n);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * sysfs facts for a char device, or null if it is not device DAX.
 * `sysRoot` is for tests (a fake tree); the real one is /sys.
 */
export function devDaxInfo(rdev: bigint, sysRoot = '/sys'): DevDaxInfo | null {
  const { major, minor } = devMajorMinor(rdev);
  const dir = path.join(sysRoot, 'dev', 'char', `${major}:${minor}`);
  let subsystem: string;
  try {
    subsystem = path.basename(fs.realpathSync(path.join(dir, 'subsystem')));
  } catch {
    return null;
  }
  if (subsystem !== 'dax') return null;
  const size = readNumber(path.join(dir, 'size'));
  if (size === null) return null;
  const align = readNumber(path.join(dir, 'align')) ?? BigInt(DEVDAX_DEFAULT_ALIGN);
  return { size, align, sysfs: dir };
}

function readNumber(file: string): bigint | null {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^(0x[0-9a-f]+|\d+)$/i.test(text) ? BigInt(text) : null;
  } catch {
    return null;
  }
}
