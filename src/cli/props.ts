/**
 * Typed reads of QemuOpts properties, with one wording for each mistake.
 * `ctx` is the option and argument as written ("-device nvdimm,slot=x"),
 * the prefix QEMU also puts on its messages.
 */
import { UserError } from '../errors.js';
import { parseBool, parseUint, type QemuOpts } from './qemuopts.js';
import { parseSize } from './size.js';

/** Throws for the first key not in `allowed`, listing what `what` does take. */
export function rejectUnknown(ctx: string, opts: Pick<QemuOpts, 'props' | 'flags'>, allowed: readonly string[], what: string): void {
  for (const key of opts.props.keys()) {
    if (allowed.includes(key)) continue;
    const flag = opts.flags.get(key);
    const shown = key === '' ? "''" : `'${key}'`;
    const from = flag !== undefined && flag !== key ? ` (from '${flag}', which QEMU syntax reads as ${key}=off)` : '';
    const takes = allowed.length ? `${what} takes: ${allowed.join(', ')}` : `${what} takes none`;
    throw new UserError(`${ctx}: unknown property ${shown}${from}; ${takes}`);
  }
}

export function boolProp(ctx: string, key: string, value: string): boolean {
  const b = parseBool(value);
  if (b === undefined) throw new UserError(`${ctx}: property '${key}' must be on or off, not '${value}'`);
  return b;
}

export function sizeProp(ctx: string, key: string, value: string): bigint {
  return parseSize(value, `${ctx}: property '${key}'`);
}

/** An integer in [min, max] (decimal, 0x hex or 0-prefixed octal, as QEMU). */
export function uintProp(ctx: string, key: string, value: string, min: number, max: number): number {
  const n = parseUint(value);
  if (n === undefined || n < BigInt(min) || n > BigInt(max)) {
    throw new UserError(`${ctx}: property '${key}' must be an integer from ${min} to ${max}, not '${value}'`);
  }
  return Number(n);
}
