// Every documented NVDIMM rule, end to end through the real `pmemvm` binary:
// one line on stderr that says what is wrong and how to fix it, exit code 1,
// and the backend files byte-for-byte unchanged (and no file left behind that
// pmemvm created). QEMU 7.2 must refuse the same command line too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmemvmNodeArgs } from '../../testhost/paths.js';

const PMEMVM = pmemvmNodeArgs();
const MiB = 1 << 20;

const dir = mkdtempSync(join(tmpdir(), 'pmemvm-errors-'));
const A = join(dir, 'a.img');
const B = join(dir, 'b.img');
const NEW = join(dir, 'new.img');
writeFileSync(A, Buffer.alloc(4 * MiB, 0x77));
writeFileSync(B, Buffer.alloc(4 * MiB, 0x88));
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const original = { a: sha(A), b: sha(B) };
test.after(() => rmSync(dir, { recursive: true, force: true }));

const NV = '-machine pc,nvdimm=on';
const objA = (extra = '') => `-object memory-backend-file,id=m0,share=on,mem-path=${A},size=4M${extra}`;
const objB = `-object memory-backend-file,id=m1,share=on,mem-path=${B},size=4M`;

/** [what, arguments, a word or phrase the message must contain, does QEMU 7.2 refuse it too] */
const CASES: [string, string, RegExp, boolean?][] = [
  ['nvdimm without -machine nvdimm=on', `-m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0`, /nvdimm=on/],
  ['no slots', `${NV} -m 256M,maxmem=1G ${objA()} -device nvdimm,memdev=m0`, /slots/],
  ['slots=0', `${NV} -m 256M,slots=0,maxmem=1G ${objA()} -device nvdimm,memdev=m0`, /slots/],
  ['more NVDIMMs than slots', `${NV} -m 256M,slots=1,maxmem=1G ${objA()} ${objB} -device nvdimm,memdev=m0 -device nvdimm,memdev=m1`, /slots/],
  ['maxmem too small for the devices', `${NV} -m 256M,slots=2,maxmem=258M ${objA()} ${objB} -device nvdimm,memdev=m0 -device nvdimm,memdev=m1`, /maxmem/],
  ['maxmem equal to RAM with slots', `${NV} -m 256M,slots=2,maxmem=256M ${objA()} -device nvdimm,memdev=m0`, /maxmem/],
  ['no maxmem at all', `${NV} -m 256M ${objA()} -device nvdimm,memdev=m0`, /maxmem/],
  ['missing memdev', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,id=nv0`, /memdev/],
  ['unknown memdev', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=nope`, /nope/],
  ['memdev used twice', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0 -device nvdimm,memdev=m0`, /already used/],
  ['duplicate device id', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} ${objB} -device nvdimm,id=d,memdev=m0 -device nvdimm,id=d,memdev=m1`, /already used/],
  ['backend size 0', `${NV} -m 256M,slots=2,maxmem=1G -object memory-backend-file,id=m0,share=on,mem-path=${A},size=0 -device nvdimm,memdev=m0`, /size/],
  ['existing file of another size', `${NV} -m 256M,slots=2,maxmem=1G -object memory-backend-file,id=m0,share=on,mem-path=${A},size=8M -device nvdimm,memdev=m0`, /size/],
  ['read-only backend without unarmed=on', `${NV} -m 256M,slots=2,maxmem=1G ${objA(',readonly=on')} -device nvdimm,memdev=m0`, /unarmed=on/],
  ['unknown nvdimm-persistence', `-machine pc,nvdimm=on,nvdimm-persistence=disk -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0`, /cpu or mem-ctrl/],
  ['size not a multiple of align', `${NV} -m 256M,slots=2,maxmem=1G -object memory-backend-file,id=m0,share=on,mem-path=${NEW},size=3M,align=2M -device nvdimm,memdev=m0`, /align/,
    false], // QEMU starts, and its guest silently loses the last 1M (pmem size is aligned down)
  ['addr not page aligned', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0,addr=0x100000800`, /2M|align/],
  // QEMU takes any addr aligned to the backend (4K for a file); pmemvm wants 2M, which
  // the guest needs to map the NVDIMM with huge pages.
  ['addr not 2M aligned', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0,addr=0x100001000`, /2M|align/, false],
  ['slot out of range', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0,slot=2`, /slot/],
  ['label-size below 128K', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0,label-size=64K`, /128K/],
  ['label area larger than the backend', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0,label-size=8M`, /too small|label/],
  // docs/nvdimm.txt, Label note 2: labels added to a used backend hide (and later overwrite) its last bytes.
  // QEMU does it silently; pmemvm says what would be lost.
  ['label-size over data that holds no labels', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0,label-size=128K`, /hold data.*label-overwrite=on/, false],
  // virtio-pmem-pci (docs/system/devices/virtio-pmem.rst and QEMU's checks)
  ['virtio-pmem without maxmem', `-m 256M ${objA()} -device virtio-pmem-pci,memdev=m0`, /maxmem/],
  ['virtio-pmem without memdev', `-m 256M,maxmem=1G ${objA()} -device virtio-pmem-pci,id=p0`, /memdev/],
  ['virtio-pmem with an unknown memdev', `-m 256M,maxmem=1G ${objA()} -device virtio-pmem-pci,memdev=nope`, /nope/],
  ['virtio-pmem and an nvdimm on one memdev', `${NV} -m 256M,slots=2,maxmem=1G ${objA()} -device nvdimm,memdev=m0 -device virtio-pmem-pci,memdev=m0`, /already used/],
  ['two virtio-pmem on one memdev', `-m 256M,maxmem=1G ${objA()} -device virtio-pmem-pci,memdev=m0 -device virtio-pmem-pci,memdev=m0`, /already used/],
  ['virtio-pmem larger than maxmem allows', `-m 256M,maxmem=258M ${objA()} ${objB} -device virtio-pmem-pci,memdev=m0 -device virtio-pmem-pci,memdev=m1`, /maxmem/],
  ['virtio-pmem size not a multiple of the page size', `-m 256M,maxmem=1G -object memory-backend-file,id=m0,share=on,mem-path=${NEW},size=4097 -device virtio-pmem-pci,memdev=m0`, /page|4K|multiple/],
  // Found only once the backend is open: the file pmemvm just created must go again.
  ['addr outside the device-memory region (new file)', `${NV} -m 256M,slots=2,maxmem=1G -object memory-backend-file,id=m0,share=on,mem-path=${NEW},size=4M -device nvdimm,memdev=m0,addr=0x800000000`, /usable range|maxmem/],
];

for (const [what, line, mentions, qemuRefuses = true] of CASES) {
  test(`refused: ${what}`, () => {
    try {
      refused(line, mentions, qemuRefuses);
    } finally {
      rmSync(NEW, { force: true });
    }
  });
}

function refused(line: string, mentions: RegExp, qemuRefuses: boolean): void {
  const args = line.split(' ');
  const r = spawnSync(process.execPath, [...PMEMVM, ...args, '-kernel', '/nonexistent-kernel', '-nographic'], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, PMEMVM_ALLOW_SLOW_KVM: '1' },
  });
  assert.equal(r.status, 1, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^pmemvm: [^\n]+\n$/, 'one line on stderr');
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:|kernel/, 'a user mistake, not a crash or a later check');
  assert.match(r.stderr, mentions);
  assert.equal(sha(A), original.a, 'backend a.img changed');
  assert.equal(sha(B), original.b, 'backend b.img changed');
  assert.ok(!existsSync(NEW), 'pmemvm left a backend file it created behind');
  assert.deepEqual(readdirSync(dir).sort(), ['a.img', 'b.img']);

  // QEMU 7.2 (the reference) refuses it too. -S: never run a guest if it accepted.
  if (!qemuRefuses) return;
  const q = spawnSync('qemu-system-x86_64', ['-accel', 'tcg', '-S', '-display', 'none', '-nodefaults', ...args], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(q.status, 1, `QEMU accepted it (status ${q.status}, signal ${q.signal}): ${q.stderr}`);
}

test('label-overwrite=on takes label-size over a backend whose tail holds data (and still writes nothing at start)', () => {
  const r = spawnSync(process.execPath, [...PMEMVM, ...`${NV} -m 256M,slots=2,maxmem=1G ${objA()}`.split(' '),
    '-device', 'nvdimm,id=nv0,memdev=m0,label-size=128K,label-overwrite=on', '-durability-report'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout)[0].size, 4 * MiB - 128 * 1024);
  assert.equal(sha(A), original.a);
});
