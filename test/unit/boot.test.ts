// Byte-level checks of the Linux boot protocol pieces and the vCPU CPUID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBootParams } from '../../src/boot/boot-params.js';
import { GDT, gdtEntry, identityPageTables } from '../../src/boot/cpu-state.js';
import { parseKernel } from '../../src/boot/kernel-image.js';
import { imageFromBytes, openImageFile } from '../../src/boot/image-file.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e820Map, splitRam, E820_RAM, E820_RESERVED } from '../../src/boot/layout.js';
import { resetVectorStub } from '../../src/boot/reset-vector.js';
import { apicIds } from '../../src/kvm/cpu-topology.js';
import { vcpuCpuid } from '../../src/kvm/cpuid.js';
import { UserError } from '../../src/errors.js';
import { loadLinux } from '../../src/boot/load-linux.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import * as libc from '../../src/sys/libc.js';

test('GDT descriptors match the well-known flat 64-bit values', () => {
  assert.equal(gdtEntry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffn); // 64-bit code
  assert.equal(gdtEntry(0xc093, 0, 0xfffff), 0x00cf93000000ffffn); // flat data
  assert.equal(GDT[2], 0x00af9b000000ffffn, '__BOOT_CS is selector 0x10');
  assert.equal(GDT[3], 0x00cf93000000ffffn, '__BOOT_DS is selector 0x18');
});

test('identity page tables map 4 GiB with 2 MiB pages', () => {
  const [pml4, pdpt, pd] = identityPageTables();
  const u64 = (b: Uint8Array, i: number) => new DataView(b.buffer).getBigUint64(i * 8, true);
  assert.equal(u64(pml4.data, 0), 0xa003n);
  assert.equal(u64(pdpt.data, 3), 0xe003n);
  assert.equal(u64(pd.data, 0), 0x83n);
  assert.equal(u64(pd.data, 2047), (2047n << 21n) | 0x83n);
});

test('boot_params: command line, initrd above 4 GiB halves, RSDP, e820', () => {
  const b = buildBootParams({
    setupHeader: null, cmdlineAddr: 0x20000, cmdlineSize: 12,
    initrd: { addr: 0x1_2345_6000, size: 0x10000 }, rsdpAddr: 0xe0000,
    e820: [{ addr: 0, size: 0x9fc00, type: E820_RAM }],
  });
  const v = new DataView(b.buffer);
  assert.equal(v.getUint16(0x1fe, true), 0xaa55);
  assert.equal(v.getUint32(0x202, true), 0x53726448);
  assert.equal(b[0x210], 0xff, 'type_of_loader');
  assert.equal(v.getUint32(0x228, true), 0x20000);
  assert.equal(v.getUint32(0x218, true), 0x2345_6000, 'ramdisk_image low 32 bits');
  assert.equal(v.getUint32(0x0c0, true), 1, 'ext_ramdisk_image high 32 bits');
  assert.equal(v.getBigUint64(0x070, true), 0xe0000n, 'acpi_rsdp_addr');
  assert.equal(b[0x1e8], 1);
  assert.equal(v.getBigUint64(0x2d0 + 8, true), 0x9fc00n);
});

test('RAM splits around the PCI hole like QEMU pc, and e820 follows', () => {
  assert.deepEqual(splitRam(512 << 20), { low: 512 << 20, high: 0 });
  assert.deepEqual(splitRam(0xe0000000), { low: 0xc0000000, high: 0x20000000 });
  const m = e820Map(4 * 2 ** 30);
  assert.deepEqual(m.at(-1), { addr: 2 ** 32, size: 2 ** 30, type: E820_RAM });
  assert.ok(m.some((e) => e.addr === 0xe0000 && e.type === E820_RESERVED), 'ACPI area reserved');
});

test('a bzImage is parsed from its setup header; garbage is a UserError', () => {
  const img = new Uint8Array(0x4000);
  const v = new DataView(img.buffer);
  img[0x1f1] = 3; img[0x201] = 0x6a;
  v.setUint32(0x202, 0x53726448, true); v.setUint16(0x206, 0x20f, true);
  v.setUint16(0x236, 1, true); v.setUint32(0x22c, 0x7fffffff, true); v.setUint32(0x238, 2047, true);
  const k = parseKernel(imageFromBytes('k', img));
  assert.equal(k.kind, 'bzImage');
  assert.equal(k.entry64, 0x100200);
  assert.deepEqual(k.segments, [{ gpa: 0x100000, offset: 4 * 512, fileSize: 0x4000 - 4 * 512, memSize: 0x4000 - 4 * 512 }]);
  assert.throws(() => parseKernel(imageFromBytes('junk', new Uint8Array(4096))), (e: unknown) => e instanceof UserError && /not a Linux kernel/.test(e.message));
  v.setUint16(0x236, 0, true);
  assert.throws(() => parseKernel(imageFromBytes('k32', img)), /no 64-bit entry point/);
});

test('the reset-vector stub writes the reset register and halts', () => {
  assert.deepEqual([...resetVectorStub(0x602, 1)], [0xb0, 0x01, 0xba, 0x02, 0x06, 0xee, 0xf4, 0xeb, 0xfd]);
});

test('CPUID: APIC ids and topology per vCPU; the default model is qemu64 feature by feature, -cpu host keeps everything', () => {
  const all = 0xffffffff;
  const supported = [
    { function: 0, index: 0, flags: 0, eax: 0x10, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 }, // AuthenticAMD
    { function: 1, index: 0, flags: 0, eax: 0x806f8, ebx: 0, ecx: all, edx: all },
    { function: 0x10, index: 0, flags: 1, eax: 0, ebx: 2, ecx: 0, edx: 0 },
    { function: 0x80000000, index: 0, flags: 0, eax: 0x80000021, ebx: 0, ecx: 0, edx: 0 },
    { function: 0x80000021, index: 0, flags: 0, eax: all, ebx: 0, ecx: 0, edx: 0 },
    { function: 0x8000000a, index: 0, flags: 0, eax: 1, ebx: 8, ecx: 0, edx: all },
    { function: 7, index: 0, flags: 1, eax: 1, ebx: all, ecx: all, edx: all },
    { function: 0xd, index: 0, flags: 1, eax: 0x207, ebx: 0x240, ecx: 0xa88, edx: 0 },
    { function: 0xb, index: 0, flags: 1, eax: 0, ebx: 0, ecx: 0, edx: 0 },
    { function: 0x80000001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: all, edx: all },
    { function: 0x40000001, index: 0, flags: 0, eax: all, ebx: 0, ecx: 0, edx: all },
    { function: 0x80000008, index: 0, flags: 0, eax: 0x3930, ebx: all, ecx: all, edx: all },
  ];
  const one = (cores: number) => ({ cores, threads: 1 });
  const def = vcpuCpuid(supported, 1, one(2));
  const leaf = (es: typeof def, f: number) => es.find((e) => e.function === f)!;
  assert.equal(leaf(def, 1).ebx >>> 24, 1, 'initial APIC id');
  assert.equal((leaf(def, 1).ebx >>> 16) & 0xff, 2, 'logical CPUs');
  // What a qemu64 guest of QEMU 7.2 lists in /proc/cpuinfo, bit by bit.
  assert.equal(leaf(def, 1).edx >>> 0, (0x078bfbfd | (1 << 28)) >>> 0, 'fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 (+HTT)');
  assert.equal(leaf(def, 1).ecx >>> 0, (1 | (1 << 13) | (1 << 21) | (1 << 31)) >>> 0, 'pni cx16 x2apic hypervisor');
  assert.deepEqual([leaf(def, 7).eax, leaf(def, 7).ebx, leaf(def, 7).ecx, leaf(def, 7).edx], [0, 0, 0, 0], 'no leaf-7 features (erms, smep, clwb...)');
  assert.equal(leaf(def, 0x80000001).ecx, (1 | (1 << 1) | (1 << 8)) >>> 0, 'lahf_lm cmp_legacy 3dnowprefetch');
  assert.equal(leaf(def, 0x80000001).edx & ((1 << 11) | (1 << 20) | (1 << 29)), (1 << 11) | (1 << 20) | (1 << 29), 'syscall nx lm');
  assert.equal(leaf(def, 0x80000001).edx & ((1 << 26) | (1 << 27)), 0, 'no pdpe1gb, rdtscp');
  assert.equal(def.some((e) => e.function === 0xd), false, 'no XSAVE leaf');
  assert.equal(def.some((e) => e.function === 0x8000000a), false, 'no SVM leaf');
  assert.equal(leaf(def, 0).eax, 0xd, 'basic leaves up to 0xD');
  assert.equal(leaf(def, 0x80000000).eax, 0x8000000a, 'extended leaves up to 0x8000000A');
  assert.equal(def.some((e) => e.function === 0x10 || e.function === 0x80000021), false, 'no leaf past the levels');
  assert.equal(leaf(def, 0xb).edx, 1, 'x2APIC id');
  // QEMU 7.2's KVM defaults: kvmclock (0, 3), nopiodelay, asyncpf, steal-time, pv-eoi, clocksource-stable (24); no hints.
  assert.equal(leaf(def, 0x40000001).eax, 0x0100007b, 'no pv-unhalt, pv-tlb-flush, pv-ipi, poll-control, pv-sched-yield, asyncpf-int');
  assert.equal(leaf(def, 0x40000001).edx, 0, 'no hints');
  assert.deepEqual([leaf(def, 0x80000008).eax, leaf(def, 0x80000008).ebx, leaf(def, 0x80000008).ecx, leaf(def, 0x80000008).edx],
    [0x3028, 0, 0x1001, 0], '48-bit virtual, 40-bit physical; 2 threads in the package, 1 APIC id bit for them');
  assert.equal(leaf(vcpuCpuid(supported, 0, one(3)), 0x80000008).ecx, 0x2002, '3 threads: 2 APIC id bits');
  assert.equal(leaf(vcpuCpuid(supported, 0, one(1)), 0x80000008).ecx, 0, 'one vCPU');
  assert.equal(leaf(vcpuCpuid(supported, 0, one(1)), 0x80000001).ecx & (1 << 1), 0, 'no CmpLegacy for one vCPU');
  const intel = [{ function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 }, ...supported];
  assert.equal(leaf(vcpuCpuid(intel, 0, one(2)), 0x80000001).ecx & (1 << 1), 0, 'no CmpLegacy on Intel');
  // -smp 12,sockets=2,cores=3,threads=2: APIC id = package << 3 | core << 1 | thread, as QEMU numbers them.
  assert.deepEqual(apicIds({ cores: 3, threads: 2 }, 12), [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
  assert.deepEqual(apicIds({ cores: 3, threads: 1 }, 6), [0, 1, 2, 4, 5, 6]);
  assert.deepEqual(apicIds({ cores: 4, threads: 1 }, 4), [0, 1, 2, 3]);
  const smt = vcpuCpuid(supported, 7, { cores: 3, threads: 2 }); // vCPU 7: package 1, core 0, thread 1
  assert.equal(leaf(smt, 1).ebx >>> 24, 9, 'initial APIC id');
  assert.equal((leaf(smt, 1).ebx >>> 16) & 0xff, 6, 'logical processors per package');
  assert.equal(leaf(smt, 0x80000008).ecx, (3 << 12) | 5, '6 per package, 3 APIC id bits below the package');
  assert.deepEqual(smt.filter((e) => e.function === 0xb).map((e) => [e.index, e.eax, e.ebx, e.ecx, e.edx]),
    [[0, 1, 2, 0x100, 9], [1, 3, 6, 0x201, 9], [2, 0, 0, 2, 9]], 'leaf 0xB: SMT level, core level, end');
  assert.equal((leaf(vcpuCpuid(supported, 0, one(1)), 1).ebx >>> 16) & 0xff, 0, 'one vCPU: no count, as QEMU');
  const host = vcpuCpuid(supported, 0, one(1), 'host');
  assert.equal(leaf(host, 1).ecx & (1 << 28), 1 << 28);
  assert.equal(leaf(host, 7).ebx, all);
  assert.equal(leaf(host, 0xd).ebx, 0xa88);
  assert.equal(leaf(host, 0x40000001).eax, all, '-cpu host: every paravirtual feature KVM has');
  assert.equal(leaf(host, 0).eax, 0x10, '-cpu host: every leaf KVM has');
  assert.equal(leaf(host, 0x80000021).eax, all);
  assert.equal(leaf(host, 0x80000008).eax, 0x3930, '-cpu host: the host\'s address sizes');
});

/** A minimal x86-64 ELF: a header, two PT_LOAD program headers and their bytes. */
function tinyElf(): Uint8Array {
  const img = new Uint8Array(0x3000);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(18, 62, true);                         // EM_X86_64
  v.setBigUint64(24, 0xffffffff81000010n, true);     // entry: a virtual address, translated to physical
  v.setBigUint64(32, 64n, true);                     // phoff
  v.setUint16(54, 56, true); v.setUint16(56, 2, true);
  const ph = (i: number, off: number, vaddr: bigint, paddr: number, filesz: number, memsz: number) => {
    const o = 64 + i * 56;
    v.setUint32(o, 1, true);
    v.setBigUint64(o + 8, BigInt(off), true); v.setBigUint64(o + 16, vaddr, true); v.setBigUint64(o + 24, BigInt(paddr), true);
    v.setBigUint64(o + 32, BigInt(filesz), true); v.setBigUint64(o + 40, BigInt(memsz), true);
  };
  ph(0, 0x1000, 0xffffffff81000000n, 0x100000, 0x1000, 0x1000);
  ph(1, 0x2000, 0xffffffff81200000n, 0x200000, 0x800, 0x2000); // .bss after 0x800 bytes
  img.fill(0xaa, 0x1000, 0x2000);
  img.fill(0xbb, 0x2000, 0x3000);
  return img;
}

for (const from of ['memory', 'files'] as const) {
  test(`an ELF vmlinux from ${from}: PT_LOAD segments placed in guest memory, .bss zeroed, entry made physical, the initrd at the top`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmemvm-boot-'));
    const elf = tinyElf(), initrdBytes = new Uint8Array(5000).fill(0xcc);
    const open = (name: string, bytes: Uint8Array) => {
      if (from === 'memory') return imageFromBytes(name, bytes);
      writeFileSync(join(dir, name), bytes);
      return openImageFile(join(dir, name), name);
    };
    const kfile = open('vmlinux', elf), ifile = open('initrd', initrdBytes);
    const k = parseKernel(kfile);
    assert.equal(k.kind, 'elf');
    assert.equal(k.entry64, 0x100010);
    assert.deepEqual(k.segments, [
      { gpa: 0x100000, offset: 0x1000, fileSize: 0x1000, memSize: 0x1000 },
      { gpa: 0x200000, offset: 0x2000, fileSize: 0x800, memSize: 0x2000 },
    ]);
    const size = 4 << 20;
    const host = libc.mmap(size, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
    try {
      const mem = new GuestMemory();
      mem.add('ram', 0, size, host);
      mem.view(0x200000, 0x2000).fill(0xee); // stale bytes where .bss goes: the loader must clear them
      loadLinux(mem, { kernel: k, initrd: ifile, cmdline: 'console=ttyS0', ramSize: size, rsdpAddr: 0xe0000, e820: e820Map(size) });
      kfile.close(); ifile.close();
      assert.ok(mem.read(0x100000, 0x1000).every((b) => b === 0xaa));
      assert.ok(mem.read(0x200000, 0x800).every((b) => b === 0xbb));
      assert.ok(mem.read(0x200800, 0x1800).every((b) => b === 0), '.bss is zero');
      const at = Math.floor((size - 5000) / 4096) * 4096; // page-aligned at the top of RAM
      assert.ok(mem.read(at, 5000).every((b) => b === 0xcc));
      assert.ok(mem.read(at + 5000, size - at - 5000).every((b) => b === 0), 'nothing past the initrd');
      // Guest writes stay in guest memory.
      mem.view(0x100000, 16).fill(0x11);
      mem.view(at, 16).fill(0x22);
      if (from === 'files') {
        assert.deepEqual(readFileSync(join(dir, 'vmlinux')), Buffer.from(elf));
        assert.deepEqual(readFileSync(join(dir, 'initrd')), Buffer.from(initrdBytes));
      }
    } finally {
      libc.munmap(host, size);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * An ELF whose one PT_LOAD holds a NOBITS section (.bss) inside its file bytes, as a vmlinux's
 * last segment does: file 0x1000-0x4000 is 0xaa, then 0xdd where .bss falls, then 0xbb; memsz
 * goes 0x1000 past the file. Section headers at 0x4000: a null one, .bss, and a PROGBITS one.
 */
function elfWithBssInside(): Uint8Array {
  const img = new Uint8Array(0x4000 + 3 * 64);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(18, 62, true);
  v.setBigUint64(24, 0x100000n, true);
  v.setBigUint64(32, 64n, true); v.setUint16(54, 56, true); v.setUint16(56, 1, true);
  v.setBigUint64(40, 0x4000n, true); v.setUint16(58, 64, true); v.setUint16(60, 3, true);
  v.setUint32(64, 1, true);
  v.setBigUint64(64 + 8, 0x1000n, true); v.setBigUint64(64 + 16, 0xffffffff81000000n, true); v.setBigUint64(64 + 24, 0x100000n, true);
  v.setBigUint64(64 + 32, 0x3000n, true); v.setBigUint64(64 + 40, 0x4000n, true);
  const sh = (i: number, type: number, addr: bigint, off: number, size: number) => {
    const o = 0x4000 + i * 64;
    v.setUint32(o + 4, type, true); v.setBigUint64(o + 8, 3n, true); // SHF_WRITE | SHF_ALLOC
    v.setBigUint64(o + 16, addr, true); v.setBigUint64(o + 24, BigInt(off), true); v.setBigUint64(o + 32, BigInt(size), true);
  };
  sh(1, 8, 0xffffffff81001000n, 0x2000, 0x1000);      // .bss: NOBITS
  sh(2, 1, 0xffffffff81002000n, 0x3000, 0x1000);      // a PROGBITS section after it
  img.fill(0xaa, 0x1000, 0x2000);
  img.fill(0xdd, 0x2000, 0x3000);
  img.fill(0xbb, 0x3000, 0x4000);
  return img;
}

test('a NOBITS section inside a segment\'s file bytes is zeros, not read from the file; left to fresh RAM, cleared otherwise', () => {
  const k = parseKernel(imageFromBytes('vmlinux', elfWithBssInside()));
  assert.deepEqual(k.segments, [
    { gpa: 0x100000, offset: 0x1000, fileSize: 0x1000, memSize: 0x1000 },
    { gpa: 0x101000, offset: 0x2000, fileSize: 0, memSize: 0x1000 },
    { gpa: 0x102000, offset: 0x3000, fileSize: 0x1000, memSize: 0x2000 },
  ]);
  const size = 4 << 20;
  for (const ramIsZero of [true, false]) {
    const host = libc.mmap(size, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
    try {
      const mem = new GuestMemory();
      mem.add('ram', 0, size, host);
      if (!ramIsZero) mem.view(0x100000, 0x4000).fill(0xee); // stale bytes: the loader must clear the zeros
      loadLinux(mem, { kernel: k, initrd: null, cmdline: '', ramSize: size, rsdpAddr: 0xe0000, e820: e820Map(size), ramIsZero });
      assert.ok(mem.read(0x100000, 0x1000).every((b) => b === 0xaa));
      assert.ok(mem.read(0x101000, 0x1000).every((b) => b === 0), `.bss is zero, not the file's 0xdd (ramIsZero ${ramIsZero})`);
      assert.ok(mem.read(0x102000, 0x1000).every((b) => b === 0xbb));
      assert.ok(mem.read(0x103000, 0x1000).every((b) => b === 0), `the tail past the file is zero (ramIsZero ${ramIsZero})`);
    } finally {
      libc.munmap(host, size);
    }
  }
});

test('a truncated or inconsistent ELF vmlinux is a UserError', () => {
  const truncated = tinyElf().subarray(0, 0x2400);
  assert.throws(() => parseKernel(imageFromBytes('short', truncated)), (e: unknown) => e instanceof UserError && /segment 1 lies past the end/.test(e.message));
  const odd = tinyElf();
  new DataView(odd.buffer).setBigUint64(64 + 56 + 40, 0x400n, true); // segment 1: memsz below filesz
  assert.throws(() => parseKernel(imageFromBytes('odd', odd)), (e: unknown) => e instanceof UserError && /segment 1 has more bytes in the file than in memory/.test(e.message));
});
