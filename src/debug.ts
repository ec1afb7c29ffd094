/**
 * PMEMVM_DEBUG=1: progress lines on stderr, each stamped with the milliseconds
 * since the process started (start-up is measured with them).
 */
export const debugOn = !!process.env.PMEMVM_DEBUG;

// process.uptime(), not performance.now(): that loads node:perf_hooks and its nine modules, under
// pmemvm's V8 flags compiled from source (their code caches refused: bin/pmemvm.cjs), so a
// debugging run's own start was slower than another's.
export function debug(message: string): void {
  if (debugOn) process.stderr.write(`pmemvm: debug: +${(process.uptime() * 1000).toFixed(0)}ms ${message}\n`);
}
