// Reading /proc/cpuinfo fields: the first CPU's, in the host's or a guest's copy.

/** The value of `key` for the first CPU in a /proc/cpuinfo text ('' if absent). */
export function cpuinfoField(cpuinfo: string, key: string): string {
  return new RegExp(`^${key}\\s*: (.*)$`, 'm').exec(cpuinfo)?.[1].trim() ?? '';
}
