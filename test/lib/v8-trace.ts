// V8's --trace-baseline / --trace-opt / --trace-baseline-batch-compilation output: which
// functions were compiled, to what, and which went through V8's batches.

/** Whether `trace` shows the function `name` compiled for `target` (BASELINE: Sparkplug; TURBOFAN). */
export function compiledTo(trace: string, name: string, target: 'BASELINE' | 'TURBOFAN'): boolean {
  return trace.includes(`<SharedFunctionInfo ${name}> (target ${target})`)
    || new RegExp(`<JSFunction ${name} \\(sfi = [^)]*\\)> \\(target ${target}\\)`).test(trace);
}

/** The trace's lines about TurboFan (none when V8 runs with --no-opt). */
export function turbofanLines(trace: string): string[] {
  return trace.split('\n').filter((l) => l.includes('TURBOFAN'));
}

/** Whether `trace` (with --trace-baseline-batch-compilation) shows the function `name` queued for one of V8's batches. */
export function batched(trace: string, name: string): boolean {
  return trace.includes(`Enqueued SFI ${name} with`);
}
