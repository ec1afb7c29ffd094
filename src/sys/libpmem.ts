/**
 * libpmem (PMDK), as QEMU uses it for pmem=on: pmem_persist() writes CPU cache lines back
 * to persistent memory (CLWB/CLFLUSHOPT/CLFLUSH, whichever the CPU has) and fences. Device
 * DAX has no fsync or msync (EINVAL), so this is the only way to make a store of pmemvm's
 * own (a label write) durable there. Loaded on first use: only device DAX needs it.
 */
import { koffi } from './koffi.js';

export const LIBPMEM = 'libpmem.so.1';

let persistFn: ((addr: bigint, len: number) => void) | null = null;

/** Load libpmem; returns why it cannot be loaded, or null. */
export function libpmemProblem(): string | null {
  if (persistFn) return null;
  try {
    const lib = koffi.load(LIBPMEM);
    const f = lib.func('void pmem_persist(uintptr_t addr, size_t len)');
    persistFn = (addr, len) => { f(addr, len); };
    return null;
  } catch (e) {
    return `${LIBPMEM} cannot be loaded (${(e as Error).message.split('\n')[0]}); install Debian's libpmem1`;
  }
}

/** Cache-line write-back and fence for [addr, addr+len) of a persistent-memory mapping. */
export function persist(addr: bigint, len: number): void {
  const problem = libpmemProblem();
  if (problem) throw new Error(problem);
  persistFn!(addr, len);
}
