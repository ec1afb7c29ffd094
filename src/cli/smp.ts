/**
 * -smp: QemuOpts with implied key 'cpus', merged over occurrences, then
 * resolved as QEMU 7.2 machine_parse_smp_config() (hw/core/machine-smp.c)
 * does for machines since 6.2: missing values are derived preferring cores
 * over sockets, threads last.
 */
import { UserError } from '../errors.js';
import { parseUint } from './qemuopts.js';
import { rejectUnknown } from './props.js';
import type { SmpOptions } from './vm-options.js';
import { apicIdOf } from '../kvm/cpu-topology.js';

/** pc's max_cpus (QEMU: "The max CPUs supported by machine 'pc-i440fx-7.2' is 255"). */
export const MAX_CPUS = 255;
export const SMP_KEYS = ['cpus', 'maxcpus', 'sockets', 'cores', 'threads'] as const;

type SmpKey = (typeof SMP_KEYS)[number];
/** Raw values merged from every -smp; each remembers its own argument for messages. */
export type SmpInput = Map<SmpKey, { value: number; ctx: string }>;

/** Merges one -smp argument's properties into `into`. */
export function addSmpArg(into: SmpInput, ctx: string, props: Map<string, string>): void {
  rejectUnknown(ctx, { props, flags: new Map() }, SMP_KEYS, '-smp');
  for (const [key, raw] of props) {
    const n = parseUint(raw);
    // QEMU 7.2 only warns that 0 is "considered invalid" and treats it as unset.
    if (n === undefined || n < 1n || n > BigInt(MAX_CPUS)) {
      const what = key === 'cpus' ? 'the number of vCPUs' : `'${key}'`;
      throw new UserError(`${ctx}: ${what} must be an integer from 1 to ${MAX_CPUS}, not '${raw}'`);
    }
    into.set(key as SmpKey, { value: Number(n), ctx });
  }
}

export function resolveSmp(input: SmpInput): SmpOptions {
  const get = (k: SmpKey): number => input.get(k)?.value ?? 0;
  let cpus = get('cpus'), maxcpus = get('maxcpus');
  let sockets = get('sockets'), cores = get('cores'), threads = get('threads');
  if (cpus === 0 && maxcpus === 0) {
    sockets ||= 1; cores ||= 1; threads ||= 1;
  } else {
    maxcpus ||= cpus;
    if (cores === 0) {
      sockets ||= 1; threads ||= 1;
      cores = Math.floor(maxcpus / (sockets * threads));
    } else if (sockets === 0) {
      threads ||= 1;
      sockets = Math.floor(maxcpus / (cores * threads));
    }
    threads ||= Math.floor(maxcpus / (sockets * cores));
  }
  maxcpus ||= sockets * cores * threads;
  cpus ||= maxcpus;

  const ctx = [...new Set([...input.values()].map((v) => v.ctx))].join(' ') || '-smp';
  const topo = `sockets (${sockets}) * cores (${cores}) * threads (${threads})`;
  // QEMU: "Invalid CPU topology: product of the hierarchy must match maxcpus:
  //        sockets (3) * dies (1) * cores (1) * threads (1) != maxcpus (4)"
  if (sockets * cores * threads !== maxcpus) {
    throw new UserError(`${ctx}: invalid CPU topology: ${topo} = ${sockets * cores * threads}, but maxcpus is ${maxcpus}; make the product equal maxcpus (or leave one of them out to have it computed)`);
  }
  // QEMU: "Invalid CPU topology: maxcpus must be equal to or greater than smp:
  //        sockets (1) * dies (1) * cores (1) * threads (1) == maxcpus (1) < smp_cpus (2)"
  if (maxcpus < cpus) {
    throw new UserError(`${ctx}: invalid CPU topology: maxcpus (${maxcpus}) is less than cpus (${cpus}); raise maxcpus or lower cpus`);
  }
  // QEMU: "Invalid SMP CPUs 300. The max CPUs supported by machine 'pc-i440fx-7.2' is 255"
  if (maxcpus > MAX_CPUS) {
    throw new UserError(`${ctx}: ${topo} = ${maxcpus} vCPUs, more than the ${MAX_CPUS} the pc machine supports`);
  }
  // APIC ids number threads, cores and sockets in power-of-two fields (as QEMU), so a topology
  // can need ids past the 8-bit xAPIC range that pmemvm's MADT has.
  const lastApicId = apicIdOf({ cores, threads }, maxcpus - 1);
  if (lastApicId > 254) {
    throw new UserError(`${ctx}: ${topo} needs APIC ids up to ${lastApicId} (each level is numbered in a power-of-two field), and pmemvm has at most 254; use fewer sockets, or cores and threads in powers of two`);
  }
  return { cpus, maxcpus, sockets, cores, threads };
}
