import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { openBackend, type BackendSpec } from '../../src/memory/backend.js';
import { UserError } from '../../src/errors.js';

const MiB = 1n << 20n;

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });
function tmpDir(under = os.tmpdir()): string {
  const d = fs.mkdtempSync(path.join(under, 'pmemvm-backend-'));
  made.push(d);
  return d;
}
function spec(over: Partial<BackendSpec>): BackendSpec {
  return { id: 'm', kind: 'file', size: 4n * MiB, share: false, pmem: false, readonly: false, discardData: false, ...over };
}
function sha(p: string): string { return createHash('sha256').update(fs.readFileSync(p)).digest('hex'); }
/** A file filled with recognisable bytes. */
function dataFile(p: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) b.write(`page ${i / 4096}`, i);
  fs.writeFileSync(p, b);
  return b;
}
function throwsUser(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}
const noWarn = { warn: (m: string) => assert.fail(`unexpected warning: ${m}`) };

test('backend: a missing file is created with exactly size bytes, sparse', () => {
  const dir = tmpDir(), p = path.join(dir, 'new.img');
  const b = openBackend(spec({ memPath: p, share: true }), noWarn);
  const st = fs.statSync(p);
  assert.equal(st.size, 4 * 1024 * 1024);
  assert.equal(st.blocks, 0, 'ftruncate, no blocks written');
  assert.equal(b.size, 4 * 1024 * 1024);
  assert.ok(b.fd >= 0);
  assert.equal(b.align, 4096);
  assert.equal(b.mapSync, false);
  b.close();
  assert.equal(fs.statSync(p).size, 4 * 1024 * 1024);
});

test('backend: size mismatch is refused and the file stays byte-for-byte the same', () => {
  const dir = tmpDir();
  for (const [fileSize, message] of [
    [1 << 20, 'is 1 MiB (0x100000) but size=4 MiB (0x400000); pmemvm never resizes an existing file: use size=1M, or a mem-path that does not exist yet'],
    [6 << 20, 'is 6 MiB (0x600000) but size=4 MiB (0x400000); pmemvm never resizes an existing file: use size=6M, or a mem-path that does not exist yet'],
  ] as const) {
    const p = path.join(dir, `data-${fileSize}.img`);
    dataFile(p, fileSize);
    const past = new Date('2020-01-02T03:04:05Z');
    fs.utimesSync(p, past, past);
    const before = { hash: sha(p), mtime: fs.statSync(p).mtimeMs, size: fs.statSync(p).size };
    for (const share of [true, false]) {
      throwsUser(() => openBackend(spec({ memPath: p, share })), `memory backend 'm': backing store ${p} ${message}`);
    }
    assert.deepEqual({ hash: sha(p), mtime: fs.statSync(p).mtimeMs, size: fs.statSync(p).size }, before);
  }
  assert.equal(fs.readdirSync(dir).length, 2, 'nothing else created');
});

test('backend: share=on guest writes reach the file', () => {
  const dir = tmpDir(), p = path.join(dir, 'shared.img');
  const orig = dataFile(p, 4 << 20);
  const b = openBackend(spec({ memPath: p, share: true }), noWarn);
  assert.equal(Buffer.from(b.view(4096, 6)).toString(), 'page 1', 'the mapping shows the file');
  b.view(8192, 5).set(Buffer.from('hello'));
  b.flush(8192, 5);
  assert.equal(fs.readFileSync(p).subarray(8192, 8197).toString(), 'hello');
  b.view((4 << 20) - 3, 3).set(Buffer.from('end'));
  b.close();
  const after = fs.readFileSync(p);
  assert.equal(after.subarray((4 << 20) - 3).toString(), 'end');
  assert.equal(after.length, orig.length);
  assert.deepEqual(b.durability(), {
    backend: 'm', path: p, crashSafe: false, mode: 'page-cache',
    reason: 'guest writes sit in the host page cache; use unarmed=on, or virtio-pmem, or a DAX backend with pmem=on,share=on',
  });
});

test('backend: share=off guest writes never reach the file', () => {
  const dir = tmpDir(), p = path.join(dir, 'private.img');
  dataFile(p, 4 << 20);
  const before = sha(p);
  const b = openBackend(spec({ memPath: p, share: false }), noWarn);
  b.view(0, 4).set(Buffer.from('XXXX'));
  assert.equal(Buffer.from(b.view(0, 4)).toString(), 'XXXX', 'the guest sees its own write');
  b.flush();
  b.close();
  assert.equal(sha(p), before);
  assert.deepEqual(b.durability(), { backend: 'm', path: p, crashSafe: false, mode: 'private', reason: 'guest writes are discarded (share=off)' });
});

test('backend: a directory gets a temporary file that is gone at once', () => {
  const dir = tmpDir();
  const b = openBackend(spec({ memPath: dir, share: true }), noWarn);
  assert.deepEqual(fs.readdirSync(dir), []);
  const target = fs.readlinkSync(`/proc/self/fd/${b.fd}`);
  assert.match(target, /\/pmemvm_back_mem\.m\.[0-9a-f]{12} \(deleted\)$/);
  b.view(0, 2).set([1, 2]);
  assert.deepEqual([...b.view(0, 2)], [1, 2]);
  assert.equal(b.durability().crashSafe, false);
  assert.match(b.durability().reason, /temporary file/);
  b.close();
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('backend: align rules, checked before anything is created', () => {
  const dir = tmpDir(), p = path.join(dir, 'a.img');
  throwsUser(() => openBackend(spec({ memPath: p, align: 0x3000n })), "memory backend 'm': align=0x3000 must be a power of two; use e.g. align=2M");
  throwsUser(() => openBackend(spec({ memPath: p, align: 0x400n })), "memory backend 'm': align=0x400 must be a multiple of the page size 0x1000; use e.g. align=2M");
  throwsUser(() => openBackend(spec({ memPath: p, align: 8n * MiB })), "memory backend 'm': size=4 MiB is not a multiple of align=8 MiB; make size a multiple of align");
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('backend: align=2M puts the mapping on a 2 MiB host boundary', () => {
  const dir = tmpDir();
  const b = openBackend(spec({ memPath: path.join(dir, 'a.img'), align: 2n * MiB, share: true }), noWarn);
  assert.equal(b.hostAddr % (2n * MiB), 0n);
  assert.equal(b.align, 2 * 1024 * 1024);
  b.view(b.size - 1, 1)[0] = 7; // the whole length is mapped
  b.close();
});

test('backend: size rules', () => {
  const dir = tmpDir(), p = path.join(dir, 'a.img');
  throwsUser(() => openBackend(spec({ memPath: p, size: 0n })), "memory backend 'm': size must be greater than 0; give it as e.g. size=4G");
  throwsUser(() => openBackend(spec({ memPath: p, size: 4097n })), "memory backend 'm': size=4097 (4097 bytes) is not a multiple of the page size 4 KiB; round it up to size=8K");
  throwsUser(() => openBackend(spec({ memPath: p, size: 3n * MiB + 512n })), "memory backend 'm': size=3146240 (3072.5 KiB) is not a multiple of the page size 4 KiB; round it up to size=3076K");
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('backend: a file it created is removed when opening fails after creating it (object-add leaves nothing behind)', () => {
  const dir = tmpDir(), p = path.join(dir, 'huge.img');
  // 256 TiB: ext4 refuses the size (EFBIG), tmpfs takes it and then the mapping fails (ENOMEM).
  assert.throws(() => openBackend(spec({ memPath: p, size: 256n << 40n, share: true }), noWarn),
    (e: unknown) => e instanceof UserError && /can't make a|unable to map/.test(e.message));
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('backend: path mistakes', () => {
  const dir = tmpDir();
  const missingDir = path.join(dir, 'nodir', 'x.img');
  throwsUser(() => openBackend(spec({ memPath: missingDir })), `memory backend 'm': can't create backing store ${missingDir}: directory ${path.dirname(missingDir)} does not exist; create it first`);
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'x');
  throwsUser(() => openBackend(spec({ memPath: path.join(file, 'x.img') })), `memory backend 'm': can't open backing store ${file}/x.img for guest RAM: a part of the path is not a directory`);
  const ro = path.join(dir, 'ro.img');
  throwsUser(() => openBackend(spec({ memPath: ro, readonly: true })), `memory backend 'm': backing store ${ro} does not exist; readonly=on needs an existing file`);
  throwsUser(() => openBackend(spec({ memPath: dir, readonly: true })), `memory backend 'm': mem-path=${dir} is a directory, which would give a new empty file; readonly=on needs an existing file`);
  throwsUser(() => openBackend(spec({})), "memory backend 'm': memory-backend-file needs mem-path=FILE (a file, a directory or /dev/daxX.Y)");
  throwsUser(() => openBackend(spec({ memPath: '/dev/zero', share: true })), "memory backend 'm': /dev/zero is a character device but not device DAX; mem-path takes a file, a directory or /dev/daxX.Y");
  const fifo = path.join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  throwsUser(() => openBackend(spec({ memPath: fifo })), `memory backend 'm': ${fifo} is not a regular file, a directory or device DAX (/dev/daxX.Y)`);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['fifo', 'plain']);
});

test('backend: readonly=on maps an existing file read-only', () => {
  const dir = tmpDir(), p = path.join(dir, 'ro.img');
  dataFile(p, 4 << 20);
  fs.chmodSync(p, 0o444);
  const before = sha(p);
  for (const share of [true, false]) {
    const b = openBackend(spec({ memPath: p, share, readonly: true }), noWarn);
    assert.equal(fs.readlinkSync(`/proc/self/fd/${b.fd}`), p);
    assert.equal(fs.readFileSync(`/proc/self/fdinfo/${b.fd}`, 'utf8').match(/flags:\s+(\d+)/)?.[1].slice(-1), '0', 'O_RDONLY');
    assert.equal(Buffer.from(b.view(0, 6)).toString(), 'page 0');
    if (share) assert.equal(b.durability().reason, 'guest writes are refused (readonly=on)');
    b.close();
  }
  assert.equal(sha(p), before);
});

test('backend: pmem=on on a non-DAX filesystem falls back with QEMU\'s warning', () => {
  for (const under of [os.tmpdir(), '/dev/shm']) {
    if (!fs.existsSync(under)) continue;
    const dir = tmpDir(under), p = path.join(dir, 'pm.img');
    const warnings: string[] = [];
    const b = openBackend(spec({ memPath: p, share: true, pmem: true }), { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [
      `requesting persistence across crashes for backend file ${fs.realpathSync(p)} failed. Proceeding without persistence, data might become corrupted in case of host crash.`,
    ]);
    assert.equal(b.mapSync, false);
    const d = b.durability();
    assert.equal(d.crashSafe, false);
    assert.equal(d.mode, 'page-cache');
    assert.equal(d.reason, 'pmem=on but the kernel refused MAP_SYNC (its filesystem is not mounted with -o dax): guest writes sit in the host page cache; use unarmed=on, or virtio-pmem, or a DAX backend with pmem=on,share=on');
    b.view(0, 2).set([9, 9]);
    b.close();
    assert.deepEqual([...fs.readFileSync(p).subarray(0, 2)], [9, 9], 'the fallback mapping is still shared');
    fs.rmSync(dir, { recursive: true });
  }
});

test('backend: pmem=on with share=off does not ask for MAP_SYNC', () => {
  const dir = tmpDir();
  const b = openBackend(spec({ memPath: path.join(dir, 'p.img'), pmem: true }), noWarn);
  assert.equal(b.mapSync, false);
  assert.equal(b.durability().mode, 'private');
  b.close();
});

test('backend: ram', () => {
  for (const share of [false, true]) {
    const b = openBackend(spec({ kind: 'ram', share }), noWarn);
    assert.equal(b.fd, -1);
    assert.equal(b.align, 2 * 1024 * 1024, '2 MiB like QEMU, for THP');
    assert.equal(b.hostAddr % (2n * MiB), 0n);
    b.view(100, 3).set([1, 2, 3]);
    assert.deepEqual([...b.view(100, 3)], [1, 2, 3]);
    b.flush();
    assert.deepEqual(b.durability(), { backend: 'm', crashSafe: false, mode: 'ram', reason: 'volatile: RAM backend, contents are lost when pmemvm exits' });
    assert.deepEqual(JSON.parse(JSON.stringify(b.durability())), b.durability());
    b.close();
    b.close(); // idempotent
  }
  const small = openBackend(spec({ kind: 'ram', size: 12288n }), noWarn);
  assert.equal(small.align, 4096);
  small.close();
  throwsUser(() => openBackend(spec({ kind: 'ram', memPath: '/tmp/x' })), "memory backend 'm': mem-path is only for memory-backend-file; drop it or use memory-backend-file");
  throwsUser(() => openBackend(spec({ kind: 'ram', pmem: true })), "memory backend 'm': pmem=on is only for memory-backend-file; drop it or use memory-backend-file");
  throwsUser(() => openBackend(spec({ kind: 'ram', readonly: true })), "memory backend 'm': readonly=on is only for memory-backend-file; drop it or use memory-backend-file");
});

/** The VmFlags of this process's mapping that starts at `addr`. */
function vmFlags(addr: bigint): string[] {
  const smaps = fs.readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  const block = smaps.find((b) => BigInt(`0x${b.slice(0, b.indexOf('-'))}`) === addr);
  assert.ok(block, `a mapping at 0x${addr.toString(16)}`);
  return /^VmFlags:(.*)$/m.exec(block)![1]!.trim().split(/\s+/);
}

test('backend: files and RAM are advised for huge pages, as QEMU\'s are (VmFlags hg: a file\'s first touches read ahead 2 MiB, not 128 KiB)', () => {
  const dir = tmpDir(), p = path.join(dir, 'hg.img');
  for (const s of [spec({ memPath: p, share: true }), spec({ memPath: p, share: false }), spec({ memPath: p, readonly: true }), spec({ kind: 'ram' })]) {
    const b = openBackend(s, noWarn);
    try {
      assert.ok(vmFlags(b.hostAddr).includes('hg'), `${s.kind} share=${s.share} readonly=${s.readonly}: ${vmFlags(b.hostAddr).join(' ')}`);
    } finally {
      b.close();
    }
  }
});

test('backend: view and flush are bounds-checked, and refuse after close', () => {
  const b = openBackend(spec({ kind: 'ram' }), noWarn);
  assert.throws(() => b.view(4 << 20, 1), RangeError);
  assert.throws(() => b.view(-1, 1), RangeError);
  assert.throws(() => b.flush(0, (4 << 20) + 1), RangeError);
  assert.equal(b.view(4 << 20, 0).length, 0);
  b.close();
  assert.throws(() => b.view(0, 1), /is closed/);
});

test('backend: discard-data=on frees the file blocks at exit instead of writing back', () => {
  const dir = tmpDir(), p = path.join(dir, 'scratch.img');
  dataFile(p, 4 << 20);
  const b = openBackend(spec({ memPath: p, share: true, discardData: true }), noWarn);
  assert.equal(b.durability().reason, 'guest writes are not kept (discard-data=on): guest flushes are not synced to the file, and its blocks are freed when pmemvm exits');
  b.close();
  const after = fs.readFileSync(p);
  assert.equal(after.length, 4 << 20, 'size kept');
  assert.ok(after.every((x) => x === 0), 'contents punched out like QEMU discard-data');
});

test('backend: permission denied says what to do, and changes nothing', { skip: process.getuid?.() !== 0 && 'needs root to run a child as nobody' }, () => {
  const dir = tmpDir();
  fs.chmodSync(dir, 0o755);
  const p = path.join(dir, 'owned.img');
  dataFile(p, 4 << 20);
  fs.chmodSync(p, 0o644);
  const before = sha(p);
  const backendJs = fileURLToPath(new URL('../../src/memory/backend.js', import.meta.url));
  const run = (s: BackendSpec) => {
    const json = JSON.stringify({ ...s, size: s.size.toString() });
    const code = `const { openBackend } = await import(${JSON.stringify(backendJs)});
      const s = ${json};
      try { openBackend({ ...s, size: BigInt(s.size) }).close(); console.log('ok'); }
      catch (e) { console.log(e.name + ': ' + e.message); }`;
    return spawnSync(process.execPath, ['--input-type=module', '-e', code], { uid: 65534, gid: 65534, encoding: 'utf8' }).stdout.trim();
  };
  assert.equal(run(spec({ memPath: p, share: true })),
    `UserError: memory backend 'm': can't open backing store ${p} for guest RAM: Permission denied; give this user write access, or use readonly=on or share=off`);
  assert.equal(run(spec({ memPath: p, share: false })), 'ok', 'share=off only needs read access');
  assert.equal(run(spec({ memPath: path.join(dir, 'new.img') })),
    `UserError: memory backend 'm': can't create backing store ${path.join(dir, 'new.img')}: Permission denied (no write permission on ${dir})`);
  assert.equal(sha(p), before);
  assert.deepEqual(fs.readdirSync(dir), ['owned.img']);
});

test('prealloc=on: every block of a sparse file is allocated before the guest runs, and the contents stay', () => {
  const dir = tmpDir();
  const p = path.join(dir, 'pre.img');
  const size = 8 * 1024 * 1024;
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  const fd = fs.openSync(p, 'r+');
  fs.writeSync(fd, Buffer.from('KEEP-ME'), 0, 7, 4096 * 3);
  fs.closeSync(fd);
  assert.ok(fs.statSync(p).blocks * 512 < size, 'sparse before');
  const b = openBackend(spec({ id: 'pre', memPath: p, size: BigInt(size), share: true, prealloc: true }));
  try {
    assert.ok(fs.statSync(p).blocks * 512 >= size, `allocated: ${fs.statSync(p).blocks * 512} of ${size} bytes`);
    assert.equal(Buffer.from(b.view(4096 * 3, 7)).toString(), 'KEEP-ME');
  } finally {
    b.close();
  }
  assert.equal(fs.readFileSync(p).subarray(4096 * 3, 4096 * 3 + 7).toString(), 'KEEP-ME');
});
