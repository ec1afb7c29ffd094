// GUIDs as ACPI stores them (EFI_GUID layout): the first three fields are
// little-endian, the last two are kept in text order. Used by ToUUID and NFIT.

const GUID_RE = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

export function guidBytes(text: string): Uint8Array {
  const m = GUID_RE.exec(text);
  if (!m) throw new RangeError(`bad GUID "${text}"`);
  const hex = (s: string) => Array.from({ length: s.length / 2 }, (_, i) => parseInt(s.slice(i * 2, i * 2 + 2), 16));
  return Uint8Array.from([
    ...hex(m[1]!).reverse(),
    ...hex(m[2]!).reverse(),
    ...hex(m[3]!).reverse(),
    ...hex(m[4]!),
    ...hex(m[5]!),
  ]);
}
