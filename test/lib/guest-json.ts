// Reads JSON that a guest script printed between BEGIN/END marker lines, e.g.
//   echo NDCTL-BEGIN; ndctl list -RDN; echo NDCTL-END
// Kernel messages on the console may interleave; they start with '[' and a timestamp.
import assert from 'node:assert/strict';

/** Shell lines that print `cmd`'s output between markers named `tag`. */
export function printBlock(tag: string, cmd: string): string {
  return `echo ${tag}-BEGIN; ${cmd}; echo ${tag}-END`;
}

export function block(output: string, tag: string): string {
  const begin = output.indexOf(`${tag}-BEGIN\n`);
  const end = output.indexOf(`${tag}-END`, begin);
  assert.ok(begin >= 0 && end > begin, `guest did not print the ${tag} block; output:\n${output}`);
  return output.slice(begin + tag.length + 7, end)
    .split('\n').filter((l) => !/^\[\s*\d+\.\d+\]/.test(l)).join('\n');
}

export function jsonBlock<T = unknown>(output: string, tag: string): T {
  const text = block(output, tag).trim();
  try {
    return JSON.parse(text === '' ? 'null' : text) as T;
  } catch (e) {
    assert.fail(`${tag} block is not JSON (${(e as Error).message}):\n${text}`);
  }
}

/** Value of a KEY=value line the guest printed. */
export function field(output: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(output);
  assert.ok(m, `guest did not print ${key}=; output:\n${output}`);
  return m[1]!.trim();
}
