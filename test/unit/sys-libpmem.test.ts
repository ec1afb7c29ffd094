// libpmem through koffi: pmem=on label writes on device DAX depend on it (setup installs
// qemu-system-x86, which depends on libpmem1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as libc from '../../src/sys/libc.js';
import { libpmemProblem, persist } from '../../src/sys/libpmem.js';

test('libpmem loads and pmem_persist writes back a range of any mapping', () => {
  assert.equal(libpmemProblem(), null);
  const len = 1 << 20;
  const addr = libc.mmap(len, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
  try {
    const v = new Uint8Array(libc.view(addr, len));
    v.fill(0x5a, 100, 5000);
    persist(addr + 100n, 4900); // unaligned start and length: libpmem rounds to cache lines
    assert.equal(v[4999], 0x5a);
  } finally {
    libc.munmap(addr, len);
  }
});
