// bench/monitor: QMP round trip of query-status (one request, wait for its reply, repeat),
// p50 and p99 after a warm-up, pmemvm beside QEMU (-accel kvm) with the same guest: first
// idle (a shell waiting on its console), then busy (`while :; do :; done` on its only vCPU).
// pmemvm's vCPU 0 runs on the main thread with the monitor: input on the QMP socket
// signals it out of KVM_RUN (src/machine/monitors.ts). Timings are printed, never asserted.
// Each VMM boots PMEMVM_BENCH_QMP_TURNS times, taking turns, and the table gives the median of
// the per-turn p50 ratios beside the pooled percentiles.
import { startVmm, type RunningVmm } from '../test/lib/vmm.js';
import { median, percentile, printTable } from './table.js';

const ROUNDS = Number(process.env.PMEMVM_BENCH_QMP_ROUNDS ?? 200);
/** Boots of each VMM, taking turns (pmemvm, QEMU, pmemvm, ...): this machine's noise drifts over minutes. */
const TURNS = Number(process.env.PMEMVM_BENCH_QMP_TURNS ?? 3);
/** Requests before timing starts: pmemvm's JavaScript needs a few hundred to reach V8's optimising tier. */
const WARMUP = Number(process.env.PMEMVM_BENCH_QMP_WARMUP ?? 500);
const SCRIPT = 'echo QMP-BENCH-IDLE; read x; echo QMP-BENCH-BUSY; while :; do :; done';

/** Round-trip times in ms of `rounds` query-status requests, one at a time (`gapMs` apart). */
async function roundTrips(vm: RunningVmm, rounds: number, gapMs = 0): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await vm.qmp.execute('query-status');
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    const t0 = process.hrtime.bigint();
    await vm.qmp.execute('query-status');
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms;
}

/**
 * Back to back, the next request goes out as soon as the reply is in; 10 ms apart, it
 * arrives while the VMM waits in its loop (for pmemvm: while vCPU 0 is in KVM_RUN).
 */
const PHASES = ['idle', 'idle, 10 ms apart', 'busy', 'busy, 10 ms apart'] as const;
type Phase = typeof PHASES[number];
const GAP_MS = 10;

async function measure(vmm: 'pmemvm' | 'qemu'): Promise<Record<Phase, number[]>> {
  const vm = await startVmm({ vmm, script: SCRIPT, args: ['-m', '256M', '-smp', '1'] });
  try {
    await vm.waitFor(/^QMP-BENCH-IDLE$/m);
    await new Promise((r) => setTimeout(r, 1000)); // let the guest settle into its idle loop
    const idle = await roundTrips(vm, ROUNDS);
    const idlePaced = await roundTrips(vm, ROUNDS, GAP_MS);
    const from = vm.output().length;
    vm.child.stdin!.write('go\r');
    await vm.waitFor(/^QMP-BENCH-BUSY$/m, 60_000, from);
    await new Promise((r) => setTimeout(r, 1000));
    const busy = await roundTrips(vm, ROUNDS);
    const busyPaced = await roundTrips(vm, ROUNDS, GAP_MS);
    const status = await vm.qmp.execute<{ status: string }>('query-status');
    if (status.status !== 'running') throw new Error(`${vmm}: the guest is ${status.status}, not running`);
    return { idle, 'idle, 10 ms apart': idlePaced, busy, 'busy, 10 ms apart': busyPaced };
  } finally {
    await vm.close();
  }
}

const results: Record<'pmemvm' | 'qemu', Record<Phase, number[]>[]> = { pmemvm: [], qemu: [] };
for (let t = 0; t < TURNS; t++) {
  results.pmemvm.push(await measure('pmemvm'));
  results.qemu.push(await measure('qemu'));
}
const f = (x: number) => x.toFixed(3);
const ratio = (r: number) => `${r.toFixed(2)}x`;
const rows = PHASES.map((phase) => {
  const p = results.pmemvm.flatMap((r) => r[phase]), q = results.qemu.flatMap((r) => r[phase]);
  const [p50, p99, q50, q99] = [percentile(p, 50), percentile(p, 99), percentile(q, 50), percentile(q, 99)];
  // Each turn's p50 ratio (pmemvm's boot against the QEMU boot right after it).
  const turns = results.pmemvm.map((r, i) => percentile(r[phase], 50) / percentile(results.qemu[i]![phase], 50));
  return [`guest ${phase}`, f(p50), f(p99), f(q50), f(q99), ratio(p50 / q50), ratio(median(turns)), turns.map((x) => x.toFixed(2)).join(' '), ratio(p99 / q99)];
});
printTable(`QMP query-status round trip, ms (${TURNS} boots of each VMM taking turns, ${ROUNDS} round trips each after ${WARMUP} warm-up; -smp 1; guest idle, then spinning; back to back or ${GAP_MS} ms apart)`,
  ['guest', 'pmemvm p50', 'pmemvm p99', 'QEMU p50', 'QEMU p99', 'p50 pmemvm/QEMU', 'per-turn p50 ratio, median', 'per turn', 'p99 pmemvm/QEMU'], rows);
