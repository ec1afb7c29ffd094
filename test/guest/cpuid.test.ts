// The CPU a guest sees: for the same command line, the same CPUID feature leaves on pmemvm as
// on QEMU 7.2, read by the guest itself (/dev/cpu/0/cpuid). Only the identity differs, by
// design: pmemvm's default model shows the host's vendor, family and model (boot.test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest } from '../lib/guest.js';

/** [leaf, subleaf, registers compared]; EAX of leaves 1 and 0x80000001 is the identity. */
const LEAVES: Array<[number, number, Array<'eax' | 'ebx' | 'ecx' | 'edx'>]> = [
  [0, 0, ['eax']], // the highest basic leaf (EBX, EDX, ECX: the vendor)
  [1, 0, ['ebx', 'ecx', 'edx']],
  [6, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [7, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0xb, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0xb, 1, ['eax', 'ebx', 'ecx', 'edx']],
  [0xb, 2, ['eax', 'ebx', 'ecx', 'edx']],
  [0x40000000, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0x40000001, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0x80000000, 0, ['eax']], // the highest extended leaf
  [0x80000001, 0, ['ecx', 'edx']],
  [0x80000008, 0, ['eax', 'ebx', 'ecx', 'edx']],
  [0x8000000a, 0, ['eax', 'ebx', 'ecx', 'edx']], // SVM: none
];
const REGS = ['eax', 'ebx', 'ecx', 'edx'] as const;
const hex = (n: number) => `0x${n.toString(16)}`;

/** vCPUs whose CPUID is read: the first, and the last present one (core 1 of the second socket). */
const CPUS = [0, 4];
// The device reads leaf (low 32 bits of the offset) and subleaf (high 32 bits) as 16 bytes.
const SCRIPT = ['modprobe cpuid || echo CPUID-MODULE-MISSING',
  ...CPUS.flatMap((cpu) => LEAVES.map(([leaf, sub]) => `echo "CPUID ${cpu}:${hex(leaf)}.${sub} $(dd if=/dev/cpu/${cpu}/cpuid bs=16 count=1 iflag=skip_bytes skip=${BigInt(sub) * 2n ** 32n + BigInt(leaf)} 2>/dev/null | od -An -tx4)"`)),
  "dmesg | grep -E 'kvm-guest|PV spinlocks' | sed 's/^\\[[ 0-9.]*\\] /KVMLINE /'",
  // The topology the guest built from them (and from the MADT).
  "grep -E '^(processor|physical id|siblings|core id|cpu cores|apicid|initial apicid|address sizes)' /proc/cpuinfo | sed 's/^/TOPO /'",
  'echo "TOPO possible $(cat /sys/devices/system/cpu/possible) present $(cat /sys/devices/system/cpu/present)"',
  'for c in /sys/devices/system/cpu/cpu[0-9]*; do echo "TOPO ${c##*/} $(cat $c/topology/physical_package_id $c/topology/core_id $c/topology/thread_siblings_list $c/topology/core_siblings_list | tr "\\n" " ")"; done',
].join('\n');

type Regs = Record<(typeof REGS)[number], number>;

function parse(vmm: string, output: string): Map<string, Regs> {
  assert.doesNotMatch(output, /CPUID-MODULE-MISSING/, 'the guest image has no cpuid module: rebuild it (guest/build.sh)');
  const out = new Map<string, Regs>();
  for (const m of output.matchAll(/^CPUID (\S+)\s+([0-9a-f]{8})\s+([0-9a-f]{8})\s+([0-9a-f]{8})\s+([0-9a-f]{8})\s*$/gm)) {
    out.set(m[1]!, { eax: parseInt(m[2]!, 16), ebx: parseInt(m[3]!, 16), ecx: parseInt(m[4]!, 16), edx: parseInt(m[5]!, 16) });
  }
  assert.equal(out.size, CPUS.length * LEAVES.length, `${vmm}: expected ${CPUS.length * LEAVES.length} CPUID lines:\n${output.slice(-12000)}`);
  return out;
}

const lines = (output: string, tag: string) => [...output.matchAll(new RegExp(`^${tag} (.*)$`, 'gm'))].map((m) => m[1]!.replace(/\s+/g, ' ').trim());

// Two sockets of three cores: APIC ids 0-2 and 4-6 (the core field is two bits wide); the last
// one possible but absent (maxcpus), as QEMU lists it in the MADT for hotplug.
test('-smp 5,sockets=2,cores=3,maxcpus=6: the same CPUID as QEMU 7.2 bit for bit (KVM paravirtual features, CmpLegacy, cores per package, address sizes, APIC ids), and the same topology in the guest, possible CPUs included', async () => {
  // Each boot takes ~30 s in the test host; a stuck one is killed well inside the file's
  // 600 s, pmemvm's after it printed where its vCPUs and the guest's tasks are.
  const run = (vmm: 'pmemvm' | 'qemu') => runGuest({ vmm, args: ['-m', '256M', '-smp', '5,sockets=2,cores=3,maxcpus=6'], script: SCRIPT, timeoutMs: 240_000, dumpAfterMs: 220_000 });
  const mine = await run('pmemvm');
  // QEMU is the reference here: its guest, five vCPUs on the test host's one CPU, once sat
  // silent after SeaBIOS until killed (session 35's CI; 20 s in the runs before and after). A
  // second boot of the reference hides nothing of pmemvm's.
  let theirs = await run('qemu');
  if (theirs.guestExit === null) theirs = await run('qemu');
  const a = parse('pmemvm', mine.output), b = parse('QEMU', theirs.output);
  const diffs: string[] = [];
  for (const cpu of CPUS) {
    for (const [leaf, sub, regs] of LEAVES) {
      const key = `${cpu}:${hex(leaf)}.${sub}`;
      for (const r of regs) {
        if (a.get(key)![r] !== b.get(key)![r]) diffs.push(`CPUID ${key} ${r}: pmemvm ${hex(a.get(key)![r])}, QEMU ${hex(b.get(key)![r])}`);
      }
    }
  }
  assert.deepEqual(diffs, []);
  assert.equal(a.get('4:0x1.0')!.ebx >>> 24, 5, 'vCPU 4 is core 1 of socket 1: APIC id 5');
  // What the guest makes of them: no paravirtual spinlocks, IPIs or TLB flushes on either,
  // and two packages of three cores each.
  assert.deepEqual(lines(mine.output, 'KVMLINE').sort(), lines(theirs.output, 'KVMLINE').sort());
  assert.ok(lines(mine.output, 'KVMLINE').some((l) => /PV spinlocks disabled/.test(l)), lines(mine.output, 'KVMLINE').join('\n'));
  assert.deepEqual(lines(mine.output, 'TOPO'), lines(theirs.output, 'TOPO'));
  assert.ok(lines(mine.output, 'TOPO').includes('cpu4 1 1 4 3-4'), lines(mine.output, 'TOPO').join('\n'));
  assert.ok(lines(mine.output, 'TOPO').includes('possible 0-5 present 0-4'), lines(mine.output, 'TOPO').join('\n'));
});
