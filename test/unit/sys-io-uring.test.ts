// The io_uring module against the running kernel: a multishot poll completes once per wake-up
// and stays armed, its removal ends it with ECANCELED, an fsync completes with its result,
// completions that overflow the ring are not lost, and a hard-linked request follows the one
// before it whatever that one's result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoUring, CQE_F_MORE } from '../../src/sys/io-uring.js';
import { toHalves } from '../../src/sys/u64-halves.js';
import * as libc from '../../src/sys/libc.js';

const one = new Uint8Array(8);
one[0] = 1;
type Completion = { userData: number; res: number; flags: number };
const reapAll = (r: IoUring) => { const got: Completion[] = []; r.reap((userData, res, flags) => got.push({ userData, res, flags })); return got; };

test('io_uring: a multishot poll completes per wake-up and stays armed; removing it ends it with ECANCELED', () => {
  const r = new IoUring(8);
  const efd = libc.eventfd();
  try {
    r.pollAdd(efd, 7, true);
    r.submit();
    assert.deepEqual(reapAll(r), [], 'nothing before a wake-up');
    libc.write(efd, one);
    libc.write(efd, one);
    r.submit(0);
    assert.deepEqual(reapAll(r).map((c) => [c.userData, c.res, c.flags & CQE_F_MORE]), [[7, 1, CQE_F_MORE], [7, 1, CQE_F_MORE]]);
    r.pollRemove(7, 8);
    r.submit(2);
    // The removal's own completion and the poll's last one come in either order (Linux 6.1 posts the poll's first).
    const ended = reapAll(r).map((c) => [c.userData, c.res, c.flags & CQE_F_MORE]).sort((a, b) => Number(a[0]) - Number(b[0]));
    assert.deepEqual(ended, [[7, -libc.ERRNO.ECANCELED, 0], [8, 0, 0]]);
  } finally {
    r.close();
    libc.close(efd);
  }
});

test('io_uring: fsync and fdatasync complete with 0 on a file; a failed one reports its errno in the completion, never throws', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-iou-'));
  const r = new IoUring(8);
  try {
    const fd = openSync(join(dir, 'f'), 'w');
    r.fsync(fd, 1, false);
    r.fsync(fd, 2, true);
    r.submit(2);
    assert.deepEqual(reapAll(r).map((c) => [c.userData, c.res]).sort(), [[1, 0], [2, 0]]);
    closeSync(fd);
    r.fsync(fd, 3, false); // closed: EBADF in the completion
    r.submit(1);
    assert.deepEqual(reapAll(r).map((c) => [c.userData, c.res]), [[3, -libc.ERRNO.EBADF]]);
  } finally {
    r.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('io_uring: more completions than the ring holds are all delivered, in order', () => {
  const r = new IoUring(4); // 4 submission entries, 8 completion entries
  const efd = libc.eventfd();
  try {
    for (let i = 0; i < 20; i++) r.pollAdd(efd, 100 + i, false); // submitted in batches as the ring fills
    r.submit();
    libc.write(efd, one); // every one-shot poll fires at once
    r.submit(0);
    const got = reapAll(r).map((c) => Number(c.userData));
    assert.equal(got.length, 20);
    assert.deepEqual([...got].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => 100 + i));
  } finally {
    r.close();
    libc.close(efd);
  }
});

test('io_uring: a request hard-linked after a poll or an fsync runs once that one has ended, even when it failed', () => {
  const r = new IoUring(8);
  const efd = libc.eventfd();
  const [rd, wr] = libc.pipe();
  const byte = libc.mmap(libc.pageSize(), libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
  const pipeBytes = () => { const b = new Uint8Array(64); try { return libc.read(rd, b); } catch { return 0; } };
  try {
    r.reserve(2);
    r.pollAdd(efd, 1, false, true);
    r.write(wr, byte, 1, 2);
    r.submit();
    assert.deepEqual(reapAll(r), [], 'the write waits for the poll');
    assert.equal(pipeBytes(), 0);
    libc.write(efd, one);
    r.submit(0);
    assert.deepEqual(reapAll(r).map((c) => [c.userData, c.res]).sort(), [[1, 1], [2, 1]]);
    assert.equal(pipeBytes(), 1);
    r.reserve(2);
    r.fsync(-1, 3, false, true); // fails (EBADF): a hard link still runs what follows
    r.write(wr, byte, 1, 4);
    r.submit(2);
    assert.deepEqual(reapAll(r).map((c) => [c.userData, c.res]).sort(), [[3, -libc.ERRNO.EBADF], [4, 1]]);
    assert.equal(pipeBytes(), 1);
  } finally {
    r.close();
    libc.close(efd);
    libc.close(rd);
    libc.close(wr);
    libc.munmap(byte, libc.pageSize());
  }
});

test('io_uring: a prepared chain goes in again and again with only its fields changed, and the ring then takes nothing else', () => {
  const r = new IoUring(8);
  const [rd, wr] = libc.pipe();
  const page = libc.mmap(libc.pageSize(), libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
  const bytes = new Uint8Array(libc.view(page, 256));
  for (let i = 0; i < 256; i++) bytes[i] = i;
  try {
    assert.throws(() => r.prepare(() => { for (let k = 0; k < 7; k++) r.write(wr, page, 1, k); }), /fills the ring \(7 of 8/);
    const s = new IoUring(8);
    try {
      // Eight one-byte writes, each from an address set per submission; the fd of the first is set too.
      s.prepare(() => { for (let k = 0; k < 8; k++) { s.write(-1, page, 1, k); } });
      assert.throws(() => s.fsync(wr, 99, false), /prepared chain only/);
      const got: number[] = [];
      const buf = new Uint8Array(64);
      const addr = new Int32Array(2);
      for (let round = 0; round < 5; round++) { // 40 requests: the ring's positions wrap five times
        for (let k = 0; k < 8; k++) { s.setFd(k, wr); toHalves(Number(page) + round * 10 + k, addr, 0); s.setAddr(k, addr, 0); }
        s.resubmit();
        s.submit(8);
        assert.deepEqual(reapAll(s).map((c) => [c.userData, c.res]), Array.from({ length: 8 }, (_, k) => [k, 1]));
        const n = libc.read(rd, buf);
        got.push(...buf.subarray(0, n));
      }
      assert.deepEqual(got, Array.from({ length: 5 }, (_, round) => Array.from({ length: 8 }, (_, k) => round * 10 + k)).flat());
    } finally {
      s.close();
    }
  } finally {
    r.close();
    libc.close(rd);
    libc.close(wr);
    libc.munmap(page, libc.pageSize());
  }
});
