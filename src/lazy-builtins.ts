/**
 * Node's modules that pmemvm needs on some paths only, loaded at their first use: each costs
 * tens of milliseconds at every start on the test host, where a one-vCPU guest without an HMP
 * terminal needs neither (bench/RESULTS.md, session 25).
 */
// process.getBuiltinModule, not node:module's createRequire: node:module costs a load of its own.
const load = <T>(id: string): T => process.getBuiltinModule(id) as T;

/** node:worker_threads: vCPUs after the first, and the device I/O thread's fallback. */
export const workerThreads = (): typeof import('node:worker_threads') => load<typeof import('node:worker_threads')>('node:worker_threads');

/** node:readline: the HMP monitor's line editing on a terminal. */
export const readlineModule = (): typeof import('node:readline') => load<typeof import('node:readline')>('node:readline');
