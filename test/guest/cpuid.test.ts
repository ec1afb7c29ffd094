// The CPU a guest sees: for the same command line, the same CPUID feature leaves on pmemvm as
// on QEMU 7.2, read by the guest itself (/dev/cpu/0/cpuid). Only the identity differs, by
// design: pmemvm's default model shows the host's vendor, family and model (boot.test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest } from '../lib/guest.js';

/** [leaf, subleaf, registers compared]; EAX of leaves 1 and 0x80000001 is the identity. */
const LEAVES: Array<[number, number, Array<'eax' | 'ebx' | 'ecx' | 'edx'>]> = [
  [1, 0, ['ebx', 'ecx', 'edx']],
  [6, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [7, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0x40000000, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0x40000001, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0x80000001, 0, ['ecx', 'edx']],
  [0x80000008, 0, ['eax', 'ebx', 'ecx', 'edx']],
];
const REGS = ['eax', 'ebx', 'ecx', 'edx'] as const;
const hex = (n: number) => `0x${n.toString(16)}`;

// The device reads leaf (low 32 bits of the offset) and subleaf (high 32 bits) as 16 bytes.
const SCRIPT = ['modprobe cpuid || echo CPUID-MODULE-MISSING',
  ...LEAVES.map(([leaf, sub]) => `echo "CPUID ${hex(leaf)}.${sub} $(dd if=/dev/cpu/0/cpuid bs=16 count=1 iflag=skip_bytes skip=${BigInt(sub) * 2n ** 32n + BigInt(leaf)} 2>/dev/null | od -An -tx4)"`),
  "dmesg | grep -E 'kvm-guest|PV spinlocks|address sizes' | sed 's/^\\[[ 0-9.]*\\] /KVMLINE /'",
].join('\n');

type Regs = Record<(typeof REGS)[number], number>;

function parse(output: string): Map<string, Regs> {
  assert.doesNotMatch(output, /CPUID-MODULE-MISSING/, 'the guest image has no cpuid module: rebuild it (guest/build.sh)');
  const out = new Map<string, Regs>();
  for (const m of output.matchAll(/^CPUID (\S+)\s+([0-9a-f]{8})\s+([0-9a-f]{8})\s+([0-9a-f]{8})\s+([0-9a-f]{8})\s*$/gm)) {
    out.set(m[1]!, { eax: parseInt(m[2]!, 16), ebx: parseInt(m[3]!, 16), ecx: parseInt(m[4]!, 16), edx: parseInt(m[5]!, 16) });
  }
  assert.equal(out.size, LEAVES.length, `expected ${LEAVES.length} CPUID lines:\n${output.slice(-3000)}`);
  return out;
}

const kvmLines = (output: string) => [...output.matchAll(/^KVMLINE (.*)$/gm)].map((m) => m[1]!.trim()).sort();

test('-smp 3: pmemvm\'s default CPU has QEMU 7.2\'s features bit for bit: KVM paravirtual features, CmpLegacy, cores per package, address sizes', async () => {
  const run = (vmm: 'pmemvm' | 'qemu') => runGuest({ vmm, args: ['-m', '256M', '-smp', '3'], script: SCRIPT, timeoutMs: 300_000 });
  const [mine, theirs] = [await run('pmemvm'), await run('qemu')];
  const a = parse(mine.output), b = parse(theirs.output);
  const diffs: string[] = [];
  for (const [leaf, sub, regs] of LEAVES) {
    const key = `${hex(leaf)}.${sub}`;
    for (const r of regs) {
      if (a.get(key)![r] !== b.get(key)![r]) diffs.push(`CPUID ${key} ${r}: pmemvm ${hex(a.get(key)![r])}, QEMU ${hex(b.get(key)![r])}`);
    }
  }
  assert.deepEqual(diffs, []);
  // What the guest makes of them: no paravirtual spinlocks, IPIs or TLB flushes on either.
  assert.deepEqual(kvmLines(mine.output), kvmLines(theirs.output));
  assert.ok(kvmLines(mine.output).some((l) => /PV spinlocks disabled/.test(l)), kvmLines(mine.output).join('\n'));
});
