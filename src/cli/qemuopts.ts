/**
 * QemuOpts grammar, as util/qemu-option.c (QEMU 7.2) parses option arguments:
 *
 *   key=value,key2=value2      comma-separated pairs
 *   value,key2=...             implied key: a first item without '=' is the
 *                              value of the option's implied key (-m 512M → size)
 *   a,,b                       ',,' is a literal comma inside a VALUE
 *                              (keys and bare flags cannot contain one)
 *   flag / noflag              bare item = flag=on; a leading "no" means
 *                              flag=off. QEMU does this textually, so
 *                              "notify" becomes tify=off; we do the same.
 *   key=1,key=2                duplicates: the last wins...
 *   id=a,id=b                  ...except id, where the FIRST wins
 *
 * Short-form booleans: QEMU 7.2 prints "short-form boolean option 'x'
 * deprecated". pmemvm accepts them silently: QEMU's own manuals (nvdimm.txt:
 * "-machine pc,nvdimm", "server,nowait") still use them. QEMU's -machine
 * (keyval parser) rejects the short form outright; we accept it there too.
 */

export interface QemuOpts {
  /** The first `id=` value, if any (QEMU ignores later ones). */
  id: string | undefined;
  /** All other keys in order of first appearance; for duplicates the last value. */
  props: Map<string, string>;
  /** Keys written in short boolean form, mapped to what the user typed ("noshare"). */
  flags: Map<string, string>;
}

interface Item { key: string; value: string; flag: string | undefined }

/** One item of get_opt_name_value(): returns the item and where the next starts. */
function nextItem(text: string, pos: number, impliedKey: string | undefined): [Item, number] {
  let len = 0;
  while (pos + len < text.length && text[pos + len] !== '=' && text[pos + len] !== ',') len++;
  let item: Item;
  if (text[pos + len] !== '=') {
    if (impliedKey !== undefined) {
      const [value, end] = readValue(text, pos);
      item = { key: impliedKey, value, flag: undefined };
      pos = end;
    } else {
      const name = text.slice(pos, pos + len);
      item = name.startsWith('no')
        ? { key: name.slice(2), value: 'off', flag: name }
        : { key: name, value: 'on', flag: name };
      pos += len;
    }
  } else {
    const key = text.slice(pos, pos + len);
    const [value, end] = readValue(text, pos + len + 1);
    item = { key, value, flag: undefined };
    pos = end;
  }
  if (text[pos] === ',') pos++;
  return [item, pos];
}

/** get_opt_value(): reads up to a single comma, turning ',,' into ','. */
function readValue(text: string, pos: number): [string, number] {
  let value = '';
  for (;;) {
    let comma = text.indexOf(',', pos);
    if (comma < 0) comma = text.length;
    value += text.slice(pos, comma);
    if (text[comma] === ',' && text[comma + 1] === ',') {
      value += ',';
      pos = comma + 2;
    } else {
      return [value, comma];
    }
  }
}

/** Parses one option argument; `impliedKey` is the option's implied first key, if it has one. */
export function parseQemuOpts(text: string, impliedKey?: string): QemuOpts {
  const result: QemuOpts = { id: findId(text), props: new Map(), flags: new Map() };
  let implied = impliedKey;
  for (let pos = 0; pos < text.length;) {
    const [item, next] = nextItem(text, pos, implied);
    pos = next;
    implied = undefined; // only the very first item can be implied
    if (item.key === 'id') continue;
    result.props.delete(item.key); // re-insert so iteration shows the final value
    result.props.set(item.key, item.value);
    if (item.flag !== undefined) result.flags.set(item.key, item.flag);
    else result.flags.delete(item.key);
  }
  return result;
}

/**
 * opts_parse_id(): QEMU finds id with a separate scan that has no implied
 * key, so "a,,id=x" still yields id x. Reproduced for fidelity.
 */
function findId(text: string): string | undefined {
  for (let pos = 0; pos < text.length;) {
    const [item, next] = nextItem(text, pos, undefined);
    if (item.key === 'id' && item.flag === undefined) return item.value;
    pos = next;
  }
  return undefined;
}

/** QEMU's boolean spellings (qapi_bool_parse): case-sensitive. */
export function parseBool(value: string): boolean | undefined {
  if (['on', 'yes', 'true', 'y'].includes(value)) return true;
  if (['off', 'no', 'false', 'n'].includes(value)) return false;
  return undefined;
}

/**
 * QEMU numbers (strtoull base 0): decimal, 0x hex, and — QEMU quirk — a
 * leading 0 means octal ("010" is 8). Negative numbers are rejected here
 * (QEMU wraps "-1" to 2^64-1); callers that take -1 handle it themselves.
 */
export function parseUint(value: string): bigint | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(value) || /^[1-9][0-9]*$/.test(value)) return BigInt(value);
  if (/^0[0-7]*$/.test(value)) return BigInt('0o' + (value.slice(1) || '0'));
  return undefined;
}

/** QEMU's id_wellformed(): letters, digits, '-', '.', '_', starting with a letter. */
export function isIdentifier(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(id);
}

export const IDENTIFIER_HINT = "an id consists of letters, digits, '-', '.', '_' and starts with a letter";
