// V8's --trace-baseline / --trace-opt output: which functions were compiled, and to what.

/** Whether `trace` shows the function `name` compiled for `target` (BASELINE: Sparkplug; TURBOFAN). */
export function compiledTo(trace: string, name: string, target: 'BASELINE' | 'TURBOFAN'): boolean {
  return trace.includes(`<SharedFunctionInfo ${name}> (target ${target})`)
    || new RegExp(`<JSFunction ${name} \\(sfi = [^)]*\\)> \\(target ${target}\\)`).test(trace);
}

/** The trace's lines about TurboFan (none when V8 runs with --no-opt). */
export function turbofanLines(trace: string): string[] {
  return trace.split('\n').filter((l) => l.includes('TURBOFAN'));
}
