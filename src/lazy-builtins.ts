/**
 * Node's modules that pmemvm needs on some paths only, loaded at their first use: each costs
 * tens of milliseconds at every start on the test host, where a one-vCPU guest without an HMP
 * terminal needs neither (bench/RESULTS.md, session 25).
 */
import { withV8Defaults } from './machine/v8-tiers.js';

// process.getBuiltinModule, not node:module's createRequire: node:module costs a load of its own.
// Under V8's defaults, so that Node's modules compile with their code caches (v8-tiers.ts).
const load = <T>(id: string): T => withV8Defaults(() => process.getBuiltinModule(id) as T);

/** node:worker_threads: vCPUs after the first, and the device I/O thread's fallback. */
export const workerThreads = (): typeof import('node:worker_threads') => load<typeof import('node:worker_threads')>('node:worker_threads');

/** node:readline: the HMP monitor's line editing on a terminal. */
export const readlineModule = (): typeof import('node:readline') => load<typeof import('node:readline')>('node:readline');
