// NVDIMM flush hints: the table the vCPU threads share. A request is served
// only by an fdatasync that started after it; requests that arrive while one
// runs share the next; failures are counted and returned to the flusher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as libc from '../../src/sys/libc.js';
import { FlushHintTable, FLUSH_HINT_SLOTS } from '../../src/kvm/flush-hints.js';
import { FLUSH_HINT_PAGE, FLUSH_HINT_PAGE_SIZE, flushHintAddress } from '../../src/boot/layout.js';
import { GED_MMIO_BASE } from '../../src/acpi/ged.js';
import { IOAPIC_BASE, LAPIC_BASE } from '../../src/acpi/tables.js';

const MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/kvm/flush-hints.js');
// Words of a slot in the table (flush-hints.ts): STARTED, DONE, LOCK.
const WORDS = 8, STARTED = 1, DONE = 2, LOCK = 3;

function tempFile(): { fd: number; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmemvm-hint-'));
  const fd = fs.openSync(path.join(dir, 'b.img'), 'w+');
  fs.writeSync(fd, Buffer.alloc(4096, 1));
  return { fd, dir };
}

/** A worker thread that calls flushSync(slot) `n` times and posts the results. */
function flusher(sab: SharedArrayBuffer, slot: number, n: number): { started: Promise<void>; done: Promise<number[]> } {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.module).then(({ FlushHintTable }) => {
      const t = new FlushHintTable(workerData.sab);
      parentPort.postMessage('started');
      const out = [];
      for (let i = 0; i < workerData.n; i++) out.push(t.flushSync(workerData.slot));
      parentPort.postMessage(out);
    });`;
  const w = new Worker(code, { eval: true, workerData: { module: MODULE, sab, slot, n } });
  let started!: () => void;
  const s = new Promise<void>((res) => { started = res; });
  const done = new Promise<number[]>((res, rej) => {
    w.on('message', (m) => { if (m === 'started') started(); else { res(m as number[]); void w.terminate(); } });
    w.on('error', rej);
  });
  return { started: s, done };
}

test('flush hints: the page is clear of the PCI 32-bit window, the IOAPIC, HPET, TPM, the GED and the LAPIC/MSI range', () => {
  const end = FLUSH_HINT_PAGE + FLUSH_HINT_PAGE_SIZE - 1;
  assert.equal(FLUSH_HINT_PAGE % 4096, 0);
  assert.ok(FLUSH_HINT_PAGE > 0xfebfffff, 'above PCI0\'s 32-bit window');
  assert.ok(FLUSH_HINT_PAGE >= IOAPIC_BASE + 0x1000);
  assert.ok(FLUSH_HINT_PAGE > 0xfed44fff, 'clear of HPET (0xFED00000) and TPM (0xFED40000)');
  assert.ok(end < GED_MMIO_BASE && end < LAPIC_BASE);
});

test('flush hints: one 8-byte hint per slot in the page; other addresses are not hints', () => {
  assert.equal(flushHintAddress(0), FLUSH_HINT_PAGE);
  assert.equal(flushHintAddress(3), FLUSH_HINT_PAGE + 24);
  assert.equal(FlushHintTable.slotAt(flushHintAddress(255)), 255);
  assert.equal(FlushHintTable.slotAt(flushHintAddress(3) + 4), 3);
  assert.equal(FlushHintTable.slotAt(FLUSH_HINT_PAGE - 1), null);
  assert.equal(FlushHintTable.slotAt(FLUSH_HINT_PAGE + 4096), null);
  assert.ok(FLUSH_HINT_SLOTS >= 256); // every ACPI memory slot
  assert.throws(() => new FlushHintTable().attach(FLUSH_HINT_SLOTS, 3), RangeError);
});

test('flush hints: each request is an fdatasync; a slot without a hint does nothing; a no-op hint counts but syncs nothing', async () => {
  const { fd, dir } = tempFile();
  try {
    const t = new FlushHintTable();
    assert.equal(t.flushSync(2), 0);
    assert.deepEqual([t.requests(2), t.flushes(2)], [0, 0]);
    t.attach(2, fd);
    assert.equal(t.has(2), true);
    assert.equal(t.flushSync(2), 0);
    assert.equal(t.flushSync(2), 0);
    assert.equal(await t.flushAsync(2), 0);
    assert.deepEqual([t.requests(2), t.flushes(2), t.errors(2)], [3, 3, 0]);
    t.attach(5, -1);
    assert.equal(t.flushSync(5), 0);
    assert.deepEqual([t.requests(5), t.flushes(5)], [1, 1]);
    t.detach(2);
    assert.equal(t.has(2), false);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('flush hints: a failed fdatasync is returned to the flusher, counted, and remembered', async () => {
  const efd = libc.eventfd(); // fdatasync on an eventfd fails with EINVAL
  try {
    const t = new FlushHintTable();
    t.attach(1, efd);
    assert.equal(t.flushSync(1), libc.ERRNO.EINVAL);
    assert.equal(await t.flushAsync(1), libc.ERRNO.EINVAL);
    assert.deepEqual([t.errors(1), t.lastErrno(1), t.flushes(1)], [2, libc.ERRNO.EINVAL, 2]);
  } finally {
    libc.close(efd);
  }
});

test('flush hints: a request made while a flush runs is not served by it, but by one that starts after it', async () => {
  const { fd, dir } = tempFile();
  try {
    const t = new FlushHintTable();
    t.attach(0, fd);
    const w = new Int32Array(t.sab);
    // Another vCPU's flush is under way: it holds the lock, generation 1 started.
    Atomics.store(w, LOCK, 1);
    Atomics.store(w, STARTED, 1);
    const f = flusher(t.sab, 0, 1);
    await f.started;
    let finished = false;
    void f.done.then(() => { finished = true; });
    // Wait for the request to be counted: the worker is then waiting for a flush.
    while (t.requests(0) === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(finished, false, 'the request returned while the older flush still ran');
    // The older flush ends: the request still needs a flush of its own.
    Atomics.store(w, DONE, 1);
    Atomics.store(w, LOCK, 0);
    Atomics.notify(w, DONE);
    assert.deepEqual(await f.done, [0]);
    assert.equal(t.flushes(0), 1);
    assert.equal(Atomics.load(w, STARTED), 2);
    assert.equal(Atomics.load(w, DONE), 2);
    assert.equal(w[0 * WORDS + LOCK], 0);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('flush hints: vCPUs that ask at once share flushes, and every request is answered', async () => {
  const { fd, dir } = tempFile();
  try {
    const t = new FlushHintTable();
    t.attach(7, fd);
    const runs = [flusher(t.sab, 7, 40), flusher(t.sab, 7, 40), flusher(t.sab, 7, 40)];
    const main = Promise.all(Array.from({ length: 20 }, () => t.flushAsync(7)));
    const results = [...(await Promise.all(runs.map((r) => r.done))).flat(), ...(await main)];
    assert.equal(results.length, 140);
    assert.ok(results.every((x) => x === 0));
    assert.equal(t.requests(7), 140);
    assert.ok(t.flushes(7) >= 1 && t.flushes(7) <= 140, `flushes: ${t.flushes(7)}`);
    assert.equal(t.errors(7), 0);
    assert.equal(Atomics.load(new Int32Array(t.sab), 7 * WORDS + LOCK), 0);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
