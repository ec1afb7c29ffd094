// How the suite is cut into batches for the test hosts that run it side by side: each
// guest test file alone (they boot guests and take minutes), the quick files together
// (one node --test start instead of dozens; each costs a second or two under emulation).
// Longest first, so that the last batch to start is a short one.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Batch {
  /** Also the batch's file name in the queue: sortable, no slashes. */
  name: string;
  /** Test files, relative to the repo root. */
  files: string[];
}

/**
 * Seconds each guest file took in the test host (sum of its tests, CI run of 2026-12-03; monitor-malformed of 2026-12-05;
 * v8-tiers of 2026-12-06).
 * Only the order of the batches depends on them; a file not listed counts as a minute.
 */
const GUEST_SECONDS: Record<string, number> = {
  'hotplug': 370, 'virtio-pmem': 290, 'labels': 190, 'nvdimm': 175, 'monitor': 170, 'dax-backends': 165,
  'flush-hint': 150, 'boot': 150, 'console': 100, 'pci-hotplug': 65, 'guest': 55, 'monitor-malformed': 75,
  'monitor-qemu': 50, 'cpuid': 40, 'foreign-kernel': 30, 'v8-tiers': 70,
};
const QUICK_SECONDS = 240;

/** Every *.test.js under `dir` (recursively), relative to `root`, sorted. */
export function testFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.js')) out.push(relative(root, p));
    }
  };
  walk(dir);
  return out;
}

/** A file boots guests when it lives in test/guest, or is the guest helper's own test. */
const bootsGuests = (file: string) => /(^|\/)test\/guest\//.test(file) || /(^|\/)test\/lib\/guest\.test\.js$/.test(file);
const stem = (file: string) => file.replace(/^.*\//, '').replace(/\.test\.js$/, '');

/** The batches, longest first; their names sort in that order. */
export function planSuite(files: string[]): Batch[] {
  const slow = files.filter(bootsGuests);
  const quick = files.filter((f) => !bootsGuests(f));
  const weighed = [
    ...slow.map((f) => ({ files: [f], label: stem(f), s: GUEST_SECONDS[stem(f)] ?? 60 })),
    ...(quick.length ? [{ files: quick, label: 'unit-and-cli', s: QUICK_SECONDS }] : []),
  ].sort((a, b) => b.s - a.s || a.label.localeCompare(b.label));
  return weighed.map((w, i) => ({ name: `${String(i + 1).padStart(2, '0')}-${w.label}`, files: w.files }));
}
