// info registers: pmemvm prints QEMU 7.2's text. The vectors are QEMU's own output (Debian's
// qemu-system-x86 7.2 under KVM, test/fixtures/qemu-7.2-info-registers-*.txt): each CPU's
// block is read back into the register values it shows (every field is printed), printed
// again by pmemvm's formatter, and must come out byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatRegisters } from '../../src/monitor/hmp-registers.js';
import { runHmpLine } from '../../src/monitor/hmp.js';
import { FakeMachine } from '../../src/monitor/fake-machine.js';
import type { CpuRegisters } from '../../src/kvm/vcpu-registers.js';
import type { Segment } from '../../src/sys/kvm-abi.js';

const fixtures = new URL('../../../test/fixtures/', import.meta.url).pathname;

/** The values one CPU's block of QEMU's info registers shows. */
function parseQemuBlock(text: string): CpuRegisters {
  const num = (re: RegExp) => { const m = re.exec(text); assert.ok(m, `${re} not in:\n${text}`); return BigInt(`0x${m[1]}`); };
  const long = /^RAX=/m.test(text);
  const reg = (n64: string, n32: string) => num(new RegExp(long ? `${n64.padEnd(3)}=([0-9a-f]+)` : `${n32}=([0-9a-f]+)`));
  const regs = {
    rax: reg('RAX', 'EAX'), rbx: reg('RBX', 'EBX'), rcx: reg('RCX', 'ECX'), rdx: reg('RDX', 'EDX'),
    rsi: reg('RSI', 'ESI'), rdi: reg('RDI', 'EDI'), rbp: reg('RBP', 'EBP'), rsp: reg('RSP', 'ESP'),
    r8: long ? reg('R8', '') : 0n, r9: long ? reg('R9', '') : 0n, r10: long ? reg('R10', '') : 0n, r11: long ? reg('R11', '') : 0n,
    r12: long ? reg('R12', '') : 0n, r13: long ? reg('R13', '') : 0n, r14: long ? reg('R14', '') : 0n, r15: long ? reg('R15', '') : 0n,
    rip: reg('RIP', 'EIP'), rflags: reg('RFL', 'EFL'),
  };
  const status = /CPL=(\d) II=(\d) A20=1 SMM=0 HLT=(\d)/.exec(text)!;
  const seg = (name: string): Segment => {
    const m = new RegExp(`^${name.padEnd(3)}=([0-9a-f]{4}) ([0-9a-f]+) ([0-9a-f]{8}) ([0-9a-f]{8})`, 'm').exec(text);
    assert.ok(m, `no ${name} line`);
    const f = parseInt(m[4]!, 16);
    const bit = (b: number) => (f >> b) & 1;
    return {
      selector: parseInt(m[1]!, 16), base: BigInt(`0x${m[2]}`), limit: parseInt(m[3]!, 16),
      type: (f >> 8) & 15, s: bit(12), dpl: (f >> 13) & 3, present: bit(15), avl: bit(20), l: bit(21), db: bit(22), g: bit(23), unusable: f === 0 ? 1 : 0,
    };
  };
  const table = (name: string) => { const m = new RegExp(`^${name}=     ([0-9a-f]+) ([0-9a-f]{8})`, 'm').exec(text)!; return { base: BigInt(`0x${m[1]}`), limit: parseInt(m[2]!, 16) }; };
  const fpu = /FCW=([0-9a-f]{4}) FSW=([0-9a-f]{4}) \[ST=\d\] FTW=([0-9a-f]{2}) MXCSR=([0-9a-f]{8})/.exec(text)!;
  const fpr = [...text.matchAll(/FPR\d=([0-9a-f]{16}) ([0-9a-f]{4})/g)].map((m) => ({ mantissa: BigInt(`0x${m[1]}`), exponent: parseInt(m[2]!, 16) }));
  const ymm = [...text.matchAll(/YMM\d\d=([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16})/g)].map((m) => [m[4], m[3], m[2], m[1]].map((x) => BigInt(`0x${x}`)));
  const xmm = [...text.matchAll(/XMM\d\d=([0-9a-f]{16}) ([0-9a-f]{16})/g)].map((m) => [BigInt(`0x${m[2]}`), BigInt(`0x${m[1]}`)]);
  while (xmm.length && xmm.length < 16) xmm.push([0n, 0n]); // 32-bit mode shows 8
  const dr = [0, 1, 2, 3, 6, 7].map((i) => num(new RegExp(`DR${i}=([0-9a-f]{16})`)));
  return {
    regs, segs: { es: seg('ES'), cs: seg('CS'), ss: seg('SS'), ds: seg('DS'), fs: seg('FS'), gs: seg('GS'), ldt: seg('LDT'), tr: seg('TR') },
    gdt: table('GDT'), idt: table('IDT'),
    cr0: num(/CR0=([0-9a-f]+)/), cr2: num(/CR2=([0-9a-f]+)/), cr3: num(/CR3=([0-9a-f]+)/), cr4: num(/CR4=([0-9a-f]+)/), efer: num(/EFER=([0-9a-f]+)/), dr,
    fcw: parseInt(fpu[1]!, 16), fsw: parseInt(fpu[2]!, 16), ftw: parseInt(fpu[3]!, 16), mxcsr: parseInt(fpu[4]!, 16), fpr,
    vectors: ymm.length ? ymm : xmm, opmask: [], xcr0: ymm.length ? 7n : 1n,
    halted: status[3] === '1', interruptShadow: status[2] === '1',
  };
}

/** QEMU's text split into its "CPU#N" blocks. */
function blocks(text: string): string[] {
  return text.split(/^\r?\nCPU#\d+\r?\n/m).slice(1).map((b) => b.replace(/\r\n/g, '\n'));
}

const files = readdirSync(fixtures).filter((f) => f.startsWith('qemu-7.2-info-registers-'));

// The test host's CPU has no AVX, so QEMU's YMM and ZMM lines are not among the vectors.
test('the fixtures hold QEMU blocks of a 64-bit kernel and at the reset vector (real mode)', () => {
  const all = files.flatMap((f) => blocks(readFileSync(join(fixtures, f), 'utf8')));
  assert.ok(all.some((b) => /^RAX=/m.test(b) && / XMM15=/.test(b) && /CS64/.test(b) && /TSS64-busy/.test(b)), 'a 64-bit block');
  assert.ok(all.some((b) => /^EAX=/m.test(b) && /^XMM00=/m.test(b)), 'a real-mode block');
});

for (const f of files) {
  test(`info registers prints QEMU's text: ${f}`, () => {
    const bs = blocks(readFileSync(join(fixtures, f), 'utf8'));
    assert.ok(bs.length > 0);
    for (const b of bs) assert.equal(formatRegisters(parseQemuBlock(b)), b);
  });
}

test('info registers [-a|vcpu] through HMP: the monitor CPU, one by index, all, and QEMU\'s errors', async () => {
  const machine = new FakeMachine();
  const one = await runHmpLine('info registers', { machine });
  assert.match(one, /^\r\nCPU#0\r\nRAX=/);
  assert.match(one, /HLT=1\r\n/);
  assert.match(await runHmpLine('info registers', { machine, cpuIndex: 1 }), /^\r\nCPU#1\r\n/);
  const second = await runHmpLine('info registers 1', { machine });
  assert.match(second, /^\r\nCPU#1\r\n[^]*HLT=0\r\n/);
  const all = await runHmpLine('info registers -a', { machine });
  assert.deepEqual([...all.matchAll(/^CPU#(\d)\r$/gm)].map((m) => m[1]), ['0', '1']);
  assert.equal(await runHmpLine('info registers 5', { machine }), 'CPU#5 not available\r\n');
});
