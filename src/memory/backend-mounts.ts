/**
 * Which filesystem a backing file lives on, and whether it is mounted for
 * DAX, from /proc/self/mountinfo. ext4 and xfs show `dax` or `dax=always`
 * (older kernels: plain `dax`), `dax=inode` leaves it to a per-file flag,
 * `dax=never` or nothing means the page cache.
 */
import * as fs from 'node:fs';

export type DaxMode = 'always' | 'inode' | 'never';

export interface MountFacts {
  mountPoint: string;
  fsType: string;
  source: string;
  options: string[]; // per-mount and superblock options together
  dax: DaxMode;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountFacts[] {
  const mounts: MountFacts[] = [];
  for (const line of text.split('\n')) {
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' '), right = line.slice(sep + 3).split(' ');
    if (left.length < 6 || right.length < 3) continue;
    const options = [...left[5].split(','), ...right[2].split(',')];
    mounts.push({
      mountPoint: unescape(left[4]),
      fsType: right[0],
      source: unescape(right[1]),
      options,
      dax: daxOf(options),
    });
  }
  return mounts;
}

function daxOf(options: string[]): DaxMode {
  if (options.includes('dax') || options.includes('dax=always')) return 'always';
  if (options.includes('dax=inode')) return 'inode';
  return 'never';
}

/**
 * The mount holding `realPath` (already resolved with realpath): the longest
 * mount point that prefixes it; among equals the last listed, which is the
 * one on top.
 */
export function mountOf(realPath: string, mounts: MountFacts[]): MountFacts | null {
  let best: MountFacts | null = null;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = mp === '/' || realPath === mp || realPath.startsWith(mp + '/');
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export function mountOfPath(realPath: string, mountinfo = '/proc/self/mountinfo'): MountFacts | null {
  try {
    return mountOf(realPath, parseMountinfo(fs.readFileSync(mountinfo, 'utf8')));
  } catch {
    return null;
  }
}
