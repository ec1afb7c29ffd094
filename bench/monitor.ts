// bench/monitor: QMP round trip of query-status (one request, wait for its reply, repeat),
// p50 and p99 after a warm-up, pmemvm beside QEMU (-accel kvm) with the same guest: first
// idle (a shell waiting on its console), then busy (`while :; do :; done` on its only vCPU).
// pmemvm's vCPU 0 runs on the main thread with the monitor: input on the QMP socket
// signals it out of KVM_RUN (src/machine/monitors.ts). Timings are printed, never asserted.
//
// The test host runs fast and slow spells of a few seconds (the same VMM's p50 moves by up to
// 2x between them), longer than a phase. So in each turn both VMMs run at once: while both
// guests are idle, their requests go in alternating blocks of BLOCK (the order swapped every
// block, the other VMM stopped with SIGSTOP meanwhile), and a spell falls on both alike. Then
// each guest in turn is made busy and measured with the other VMM idle beside it (pmemvm
// first, ended before QEMU's guest spins, so that no two busy guests share the CPU).
// PMEMVM_BENCH_QMP_TURNS turns; the table gives the median of the per-turn p50 ratios beside
// the pooled percentiles.
import { startVmm, type RunningVmm } from '../test/lib/vmm.js';
import { median, percentile, printTable } from './table.js';

const ROUNDS = Number(process.env.PMEMVM_BENCH_QMP_ROUNDS ?? 200);
const TURNS = Number(process.env.PMEMVM_BENCH_QMP_TURNS ?? 3);
/** Requests before timing starts: pmemvm's JavaScript needs a few hundred to reach V8's optimising tier. */
const WARMUP = Number(process.env.PMEMVM_BENCH_QMP_WARMUP ?? 500);
/** Requests to one VMM before the other's turn, while both guests are idle. */
const BLOCK = 20;
const SCRIPT = 'echo QMP-BENCH-IDLE; read x; echo QMP-BENCH-BUSY; while :; do :; done';
type Vmm = 'pmemvm' | 'qemu';

/** One round trip in ms, `gapMs` after the previous one. */
async function roundTrip(vm: RunningVmm, gapMs: number): Promise<number> {
  if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  const t0 = process.hrtime.bigint();
  await vm.qmp.execute('query-status');
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function warmUp(vm: RunningVmm): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await vm.qmp.execute('query-status');
}

/** `rounds` round trips to each VMM, in alternating blocks, after each one's warm-up. */
async function interleaved(vms: Record<Vmm, RunningVmm>, rounds: number, gapMs: number): Promise<Record<Vmm, number[]>> {
  await warmUp(vms.pmemvm);
  await warmUp(vms.qemu);
  const ms: Record<Vmm, number[]> = { pmemvm: [], qemu: [] };
  try {
    for (let b = 0; ms.qemu.length < rounds; b++) {
      for (const vmm of (b % 2 ? ['qemu', 'pmemvm'] : ['pmemvm', 'qemu']) as Vmm[]) {
        // The other VMM is stopped (SIGSTOP, every thread) while this one is measured: its own
        // wake-ups (pmemvm's slice timer, QEMU's main loop) cannot land on this one's requests.
        vms[vmm === 'pmemvm' ? 'qemu' : 'pmemvm'].child.kill('SIGSTOP');
        vms[vmm].child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 20));
        for (let i = 0; i < BLOCK && ms[vmm].length < rounds; i++) ms[vmm].push(await roundTrip(vms[vmm], gapMs));
      }
    }
  } finally {
    for (const vm of Object.values(vms)) vm.child.kill('SIGCONT');
  }
  return ms;
}

/** Make this VMM's guest spin, then `rounds` round trips back to back and `gapMs` apart. */
async function busy(vm: RunningVmm, rounds: number, gapMs: number): Promise<[number[], number[]]> {
  const from = vm.output().length;
  vm.child.stdin!.write('go\r');
  await vm.waitFor(/^QMP-BENCH-BUSY$/m, 60_000, from);
  await new Promise((r) => setTimeout(r, 1000));
  const run = async (gap: number) => { await warmUp(vm); const ms: number[] = []; for (let i = 0; i < rounds; i++) ms.push(await roundTrip(vm, gap)); return ms; };
  const backToBack = await run(0);
  const paced = await run(gapMs);
  const status = await vm.qmp.execute<{ status: string }>('query-status');
  if (status.status !== 'running') throw new Error(`the guest is ${status.status}, not running`);
  return [backToBack, paced];
}

/**
 * Back to back, the next request goes out as soon as the reply is in; 10 ms apart, it
 * arrives while the VMM waits in its loop (for pmemvm: while vCPU 0 is in KVM_RUN).
 */
const PHASES = ['idle', 'idle, 10 ms apart', 'busy', 'busy, 10 ms apart'] as const;
type Phase = typeof PHASES[number];
const GAP_MS = 10;

async function turn(): Promise<Record<Vmm, Record<Phase, number[]>>> {
  const vms = {} as Record<Vmm, RunningVmm>;
  try {
    for (const vmm of ['pmemvm', 'qemu'] as Vmm[]) vms[vmm] = await startVmm({ vmm, script: SCRIPT, args: ['-m', '256M', '-smp', '1'] });
    for (const vm of Object.values(vms)) await vm.waitFor(/^QMP-BENCH-IDLE$/m);
    await new Promise((r) => setTimeout(r, 1000)); // let the guests settle into their idle loops
    const idle = await interleaved(vms, ROUNDS, 0);
    const idlePaced = await interleaved(vms, ROUNDS, GAP_MS);
    const out = {} as Record<Vmm, Record<Phase, number[]>>;
    for (const vmm of ['pmemvm', 'qemu'] as Vmm[]) {
      const [b, bp] = await busy(vms[vmm], ROUNDS, GAP_MS);
      await vms[vmm].close();
      out[vmm] = { idle: idle[vmm], 'idle, 10 ms apart': idlePaced[vmm], busy: b, 'busy, 10 ms apart': bp };
    }
    return out;
  } finally {
    for (const vm of Object.values(vms)) await vm.close();
  }
}

const results: Record<'pmemvm' | 'qemu', Record<Phase, number[]>[]> = { pmemvm: [], qemu: [] };
for (let t = 0; t < TURNS; t++) {
  const r = await turn();
  results.pmemvm.push(r.pmemvm);
  results.qemu.push(r.qemu);
}
const f = (x: number) => x.toFixed(3);
const ratio = (r: number) => `${r.toFixed(2)}x`;
const rows = PHASES.map((phase) => {
  const p = results.pmemvm.flatMap((r) => r[phase]), q = results.qemu.flatMap((r) => r[phase]);
  const [p50, p99, q50, q99] = [percentile(p, 50), percentile(p, 99), percentile(q, 50), percentile(q, 99)];
  // Each turn's p50 ratio (the two VMMs of one turn).
  const turns = results.pmemvm.map((r, i) => percentile(r[phase], 50) / percentile(results.qemu[i]![phase], 50));
  return [`guest ${phase}`, f(p50), f(p99), f(q50), f(q99), ratio(p50 / q50), ratio(median(turns)), turns.map((x) => x.toFixed(2)).join(' '), ratio(p99 / q99)];
});
printTable(`QMP query-status round trip, ms (${TURNS} turns, each with both VMMs running, ${ROUNDS} round trips each after ${WARMUP} warm-up; -smp 1; guests idle (requests to the two VMMs in alternating blocks of ${BLOCK}, the other VMM stopped), then each guest spinning alone; back to back or ${GAP_MS} ms apart)`,
  ['guest', 'pmemvm p50', 'pmemvm p99', 'QEMU p50', 'QEMU p99', 'p50 pmemvm/QEMU', 'per-turn p50 ratio, median', 'per turn', 'p99 pmemvm/QEMU'], rows);
