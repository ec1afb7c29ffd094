/**
 * -smp's sockets, cores and threads as the guest sees them: APIC ids, as QEMU 7.2 numbers them
 * (x86_topo_ids_from_idx, one die per socket), each level's field as wide as its count needs.
 * With one socket and one thread per core, vCPU n has APIC id n.
 */

/** Per socket; the number of sockets follows from the vCPU count. */
export interface CpuTopology {
  cores: number;
  threads: number;
}

/** Bits that number `count` items (QEMU's apicid_bitwidth_for_count). */
export const idBits = (count: number): number => (count > 1 ? 32 - Math.clz32(count - 1) : 0);

/** Where the core id starts in an APIC id: after the thread id. */
export const coreShift = (t: CpuTopology): number => idBits(t.threads);

/** Where the package (socket) id starts in an APIC id. */
export const packageShift = (t: CpuTopology): number => coreShift(t) + idBits(t.cores);

/** Logical processors in one package. */
export const threadsPerPackage = (t: CpuTopology): number => t.cores * t.threads;

/** Where vCPU `index` sits (cpu-index order: threads of a core, cores of a socket, sockets). */
export function topoIds(t: CpuTopology, index: number): { socket: number; core: number; thread: number } {
  return { socket: Math.floor(index / threadsPerPackage(t)), core: Math.floor(index / t.threads) % t.cores, thread: index % t.threads };
}

/** The APIC id of vCPU `index`. */
export function apicIdOf(t: CpuTopology, index: number): number {
  const { socket, core, thread } = topoIds(t, index);
  return (socket * 2 ** packageShift(t)) + (core << coreShift(t)) + thread;
}

/** The APIC ids of vCPUs 0..cpus-1. */
export const apicIds = (t: CpuTopology, cpus: number): number[] => Array.from({ length: cpus }, (_, i) => apicIdOf(t, i));
