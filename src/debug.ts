/**
 * PMEMVM_DEBUG=1: progress lines on stderr, each stamped with the milliseconds
 * since the process started (start-up is measured with them).
 */
export const debugOn = !!process.env.PMEMVM_DEBUG;

export function debug(message: string): void {
  if (debugOn) process.stderr.write(`pmemvm: debug: +${performance.now().toFixed(0)}ms ${message}\n`);
}
