import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { decideDurability, formatDurability, FLUSH_HINT_PROMISE, type DurabilityFacts } from '../../src/memory/durability.js';
import { mountOf, parseMountinfo } from '../../src/memory/backend-mounts.js';
import { devDaxInfo, devMajorMinor } from '../../src/memory/backend-devdax.js';
import { humanSize, sizeOption } from '../../src/memory/backend-size.js';

const base: DurabilityFacts = {
  backend: 'mem0', path: '/mnt/pmem/a.img', kind: 'file', devdax: false, share: true, pmem: true,
  mapSync: false, readonly: false, discardData: false, temporary: false, dax: 'never', fsType: 'ext4',
};

test('durability: each way of mapping gets its verdict', () => {
  const cases: [Partial<DurabilityFacts>, boolean, string, string][] = [
    [{ devdax: true, path: '/dev/dax0.0', dax: null }, true, 'devdax', 'device DAX: guest stores go straight to persistent memory, no page cache'],
    [{ mapSync: true, dax: 'always' }, true, 'fsdax-map-sync', 'file on a DAX filesystem (ext4) mapped with MAP_SYNC: guest stores go straight to persistent memory and block metadata is committed on fault'],
    [{ pmem: false }, false, 'page-cache', 'guest writes sit in the host page cache; use unarmed=on, or virtio-pmem, or a DAX backend with pmem=on,share=on'],
    [{}, false, 'page-cache', 'pmem=on but the kernel refused MAP_SYNC (its filesystem is not mounted with -o dax): guest writes sit in the host page cache; use unarmed=on, or virtio-pmem, or a DAX backend with pmem=on,share=on'],
    [{ dax: 'inode' }, false, 'page-cache', 'pmem=on but the kernel refused MAP_SYNC (the file is not DAX): guest writes sit in the host page cache; use unarmed=on, or virtio-pmem, or a DAX backend with pmem=on,share=on'],
    [{ pmem: false, dax: 'always' }, false, 'page-cache', 'file on a DAX filesystem mapped without MAP_SYNC: its block allocations may be lost in a host crash; add pmem=on'],
    [{ share: false, mapSync: false }, false, 'private', 'guest writes are discarded (share=off)'],
    // Kata Containers' read-only image: refused, whatever share says (not "discarded").
    [{ share: false, mapSync: false, readonly: true }, false, 'private', 'guest writes are refused (readonly=on)'],
    [{ readonly: true, mapSync: false }, false, 'page-cache', 'guest writes are refused (readonly=on)'],
    [{ devdax: true, discardData: true }, true, 'devdax', 'device DAX: guest stores go straight to persistent memory, no page cache (discard-data=on changes nothing on device DAX)'],
  ];
  for (const [over, crashSafe, mode, reason] of cases) {
    const r = decideDurability({ ...base, ...over });
    assert.deepEqual({ crashSafe: r.crashSafe, mode: r.mode, reason: r.reason }, { crashSafe, mode, reason }, JSON.stringify(over));
  }
  const ram = decideDurability({ ...base, kind: 'ram', path: undefined, share: false, pmem: false });
  assert.deepEqual(ram, { backend: 'mem0', crashSafe: false, mode: 'ram', reason: 'volatile: RAM backend, contents are lost when pmemvm exits' });
  assert.equal('path' in ram, false);
});

test('durability: an NVDIMM flush hint makes a page-cache file crash-safe for what the guest flushes, until a flush fails', () => {
  const ok = decideDurability({ ...base, pmem: false, flushHint: { errors: 0 } });
  assert.deepEqual({ crashSafe: ok.crashSafe, mode: ok.mode }, { crashSafe: true, mode: 'page-cache' });
  assert.equal(ok.reason, FLUSH_HINT_PROMISE);
  assert.match(ok.reason, /fsync, fdatasync, msync, O_DSYNC.*NOT stores .* CPU cache flushes alone \(MAP_SYNC\).*without barriers/);
  const failed = decideDurability({ ...base, pmem: false, flushHint: { errors: 2, lastError: 'EIO' } });
  assert.equal(failed.crashSafe, false);
  assert.match(failed.reason, /^a host fdatasync of the file failed \(EIO, 2 times\): what the guest flushed may be lost/);
  // Read-only, temporary and share=off backends keep their verdicts: the hint changes nothing there.
  assert.equal(decideDurability({ ...base, readonly: true, flushHint: { errors: 0 } }).crashSafe, false);
  assert.equal(decideDurability({ ...base, share: false, flushHint: { errors: 0 } }).mode, 'private');
  // MAP_SYNC was durable without it.
  assert.equal(decideDurability({ ...base, mapSync: true, dax: 'always', flushHint: { errors: 0 } }).mode, 'fsdax-map-sync');
});

test('durability: the banner line, and the report survives JSON', () => {
  const safe = decideDurability({ ...base, devdax: true, path: '/dev/dax0.0' });
  assert.equal(formatDurability('nv0', safe), 'nv0: mem0 (/dev/dax0.0) is crash-safe [devdax]: device DAX: guest stores go straight to persistent memory, no page cache');
  const ram = decideDurability({ ...base, kind: 'ram', path: undefined });
  assert.equal(formatDurability('dimm1', ram), 'dimm1: mem0 is not crash-safe [ram]: volatile: RAM backend, contents are lost when pmemvm exits');
  assert.deepEqual(JSON.parse(JSON.stringify(safe)), safe);
});

test('mountinfo: DAX options, escaped mount points, the mount on top wins', () => {
  const text = [
    '22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '30 22 259:0 / /mnt/pmem rw,relatime shared:5 - ext4 /dev/pmem0 rw,dax=always',
    '31 22 259:1 / /mnt/old\\040pmem rw - xfs /dev/pmem1 rw,attr2,dax',
    '32 22 259:2 / /mnt/inode rw - xfs /dev/pmem2 rw,dax=inode',
    '33 30 0:50 / /mnt/pmem/sub rw - tmpfs tmpfs rw',
    '34 30 0:51 / /mnt/pmem/sub rw - ext4 /dev/pmem3 rw,dax',
  ].join('\n');
  const m = parseMountinfo(text);
  assert.equal(m.length, 6);
  assert.equal(mountOf('/mnt/pmem/a.img', m)?.dax, 'always');
  assert.equal(mountOf('/mnt/old pmem/a.img', m)?.fsType, 'xfs');
  assert.equal(mountOf('/mnt/old pmem/a.img', m)?.dax, 'always');
  assert.equal(mountOf('/mnt/inode/x', m)?.dax, 'inode');
  assert.equal(mountOf('/mnt/pmemx/a.img', m)?.mountPoint, '/', 'a prefix must end at a /');
  assert.equal(mountOf('/mnt/pmem/sub/f', m)?.source, '/dev/pmem3', 'last listed is on top');
  assert.equal(mountOf('/var/x', m)?.dax, 'never');
});

test('devdax: size and alignment from a sysfs tree', () => {
  const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'pmemvm-sys-'));
  const mk = (majmin: string, subsystem: string, files: Record<string, string>) => {
    const dir = path.join(sys, 'devices', majmin.replace(':', '_'));
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(path.join(sys, 'class', subsystem), { recursive: true });
    fs.symlinkSync(path.join(sys, 'class', subsystem), path.join(dir, 'subsystem'));
    for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, k), v);
    fs.mkdirSync(path.join(sys, 'dev', 'char'), { recursive: true });
    fs.symlinkSync(dir, path.join(sys, 'dev', 'char', majmin));
  };
  mk('252:0', 'dax', { size: '17179869184\n', align: '2097152\n' });
  mk('252:1', 'dax', { size: '1073741824\n' });
  mk('1:5', 'mem', { size: '0\n' });
  const rdev = (major: number, minor: number) => BigInt((major << 8) | minor);
  assert.deepEqual(devMajorMinor(rdev(252, 1)), { major: 252, minor: 1 });
  // glibc makedev for major 0x1234, minor 0x56789: both split across the high bits.
  const big = (0x1000n << 32n) | (0x234n << 8n) | (0x56700n << 12n) | 0x89n;
  assert.deepEqual(devMajorMinor(big), { major: 0x1234, minor: 0x56789 });
  assert.equal(devDaxInfo(rdev(252, 0), sys)?.size, 16n << 30n);
  assert.equal(devDaxInfo(rdev(252, 0), sys)?.align, 2n << 20n);
  assert.equal(devDaxInfo(rdev(252, 1), sys)?.align, 2n << 20n, 'older kernels: 2 MiB');
  assert.equal(devDaxInfo(rdev(1, 5), sys), null, '/dev/zero is no DAX');
  assert.equal(devDaxInfo(rdev(9, 9), sys), null);
  fs.rmSync(sys, { recursive: true });
});

test('sizes: human and option forms', () => {
  assert.equal(humanSize(4n << 20n), '4 MiB');
  assert.equal(humanSize(3n << 29n), '1.5 GiB');
  assert.equal(humanSize(4097), '4097 bytes');
  assert.equal(humanSize(1), '1 byte');
  assert.equal(humanSize(512), '512 bytes');
  assert.equal(sizeOption(3n << 29n), '1536M');
  assert.equal(sizeOption(1n << 40n), '1T');
  assert.equal(sizeOption(4097), '4097');
});
