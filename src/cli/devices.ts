/**
 * parseDevice(): the typed reading of -device nvdimm / virtio-pmem-pci,
 * with every QEMU check that looks at one device only.
 * Checks against other options (memdev exists, slots, space) are in validate.ts.
 */
import { UserError } from '../errors.js';
import { parseUint } from './qemuopts.js';
import { boolProp, rejectUnknown, sizeProp } from './props.js';
import { formatSize, KiB, MiB, tryParseSize } from './size.js';
import type { DeviceSpec } from './vm-options.js';

/** QEMU MIN_NAMESPACE_LABEL_SIZE. */
export const MIN_LABEL_SIZE = 128n * KiB;
/** Memory devices are placed on 2 MiB boundaries on x86 (QEMU: "address must be aligned to 0x200000 bytes"). */
export const DEVICE_ALIGN = 2n * MiB;

export interface NvdimmDevice {
  driver: 'nvdimm';
  id: string | undefined;
  /** -object id of the memory backend. */
  memdev: string;
  /** Label storage area at the end of the backend, bytes; undefined: no labels. */
  labelSize: bigint | undefined;
  /** Tell the guest it cannot be written to (ACPI NFIT "not armed"). */
  unarmed: boolean;
  /** Hotplug slot, 0..slots-1; undefined: first free. */
  slot: number | undefined;
  /** Guest physical address, 2 MiB aligned; undefined: placed automatically. */
  addr: bigint | undefined;
  /** NFIT device UUID, lower case; undefined: generated. */
  uuid: string | undefined;
  /** pmemvm's own: take label-size even though the label area holds data (it will be lost). */
  labelOverwrite: boolean;
  /** pmemvm's own: an NFIT flush hint whose guest writes fdatasync the backend. */
  flushHint: boolean;
}

export interface VirtioPmemDevice {
  driver: 'virtio-pmem-pci';
  id: string | undefined;
  memdev: string;
  /** PCI slot (0..31) and function (0..7); undefined: first free slot. */
  pciAddr: { slot: number; fn: number } | undefined;
}

export type PmemDevice = NvdimmDevice | VirtioPmemDevice;

export const DEVICE_DRIVERS = ['nvdimm', 'virtio-pmem-pci'] as const;

export function parseDevice(dev: DeviceSpec): PmemDevice {
  const ctx = `-device ${dev.arg}`;
  if (dev.driver === 'nvdimm') return parseNvdimm(ctx, dev);
  if (dev.driver === 'virtio-pmem-pci') return parseVirtioPmem(ctx, dev);
  // QEMU: "'foo' is not a valid device model name"
  throw new UserError(`${ctx}: unsupported device '${dev.driver}' (pmemvm supports ${DEVICE_DRIVERS.join(' and ')})`);
}

// QEMU: "'memdev' property must be set"
function memdevOf(ctx: string, dev: DeviceSpec): string {
  const memdev = dev.props.get('memdev');
  if (!memdev) throw new UserError(`${ctx}: missing memdev= (the id of a -object memory-backend-file or memory-backend-ram)`);
  return memdev;
}

function parseNvdimm(ctx: string, dev: DeviceSpec): NvdimmDevice {
  rejectUnknown(ctx, dev, ['memdev', 'label-size', 'unarmed', 'slot', 'addr', 'uuid', 'label-overwrite', 'flush-hint'], 'nvdimm');
  const p = dev.props;
  let labelSize: bigint | undefined;
  if (p.has('label-size')) {
    labelSize = sizeProp(ctx, 'label-size', p.get('label-size')!);
    // QEMU: "Property 'nvdimm.label-size' (0x10000) is required at least 0x20000"
    if (labelSize < MIN_LABEL_SIZE) {
      throw new UserError(`${ctx}: label-size=${formatSize(labelSize)} is too small; the label area must be at least 128K (or leave label-size out for no labels)`);
    }
  }
  return {
    driver: 'nvdimm',
    id: dev.id,
    memdev: memdevOf(ctx, dev),
    labelSize,
    unarmed: boolProp(ctx, 'unarmed', p.get('unarmed') ?? 'off'),
    slot: p.has('slot') ? nvdimmSlot(ctx, p.get('slot')!) : undefined,
    addr: p.has('addr') ? nvdimmAddr(ctx, p.get('addr')!) : undefined,
    uuid: p.has('uuid') ? uuid(ctx, p.get('uuid')!) : undefined,
    labelOverwrite: boolProp(ctx, 'label-overwrite', p.get('label-overwrite') ?? 'off'),
    flushHint: boolProp(ctx, 'flush-hint', p.get('flush-hint') ?? 'off'),
  };
}

/** int32; -1 is QEMU's "any free slot". The upper bound depends on -m slots (validate.ts). */
function nvdimmSlot(ctx: string, text: string): number | undefined {
  if (text === '-1') return undefined;
  const n = parseUint(text);
  // QEMU: "Parameter 'slot' expects integer"
  if (n === undefined || n > 0x7fffffffn) {
    throw new UserError(`${ctx}: slot must be a slot number from 0 to (-m slots) - 1, not '${text}'`);
  }
  return Number(n);
}

/** uint64 in QEMU; we also take size syntax (addr=4G). 0 means automatic, as QEMU's default. */
function nvdimmAddr(ctx: string, text: string): bigint | undefined {
  const n = parseUint(text);
  const r = tryParseSize(text);
  const addr = n ?? (r.ok ? r.value : undefined);
  if (addr === undefined) {
    throw new UserError(`${ctx}: addr must be a guest physical address such as 0x140000000 or 5G, not '${text}'`);
  }
  // QEMU: "address must be aligned to 0x200000 bytes"
  if (addr % DEVICE_ALIGN !== 0n) {
    throw new UserError(`${ctx}: addr=0x${addr.toString(16)} must be a multiple of 2M (0x200000)`);
  }
  return addr === 0n ? undefined : addr;
}

// QEMU: "Property 'nvdimm.uuid' has invalid value"
function uuid(ctx: string, text: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) {
    throw new UserError(`${ctx}: uuid '${text}' is not a UUID (write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hex)`);
  }
  return text.toLowerCase();
}

function parseVirtioPmem(ctx: string, dev: DeviceSpec): VirtioPmemDevice {
  rejectUnknown(ctx, dev, ['memdev', 'addr'], 'virtio-pmem-pci');
  const addr = dev.props.get('addr');
  return {
    driver: 'virtio-pmem-pci',
    id: dev.id,
    memdev: memdevOf(ctx, dev),
    pciAddr: addr === undefined ? undefined : pciAddr(ctx, addr),
  };
}

/** QEMU's PCI devfn syntax: SLOT[.FN], both hex; slot < 0x20, fn < 8. */
function pciAddr(ctx: string, text: string): { slot: number; fn: number } {
  const m = /^(?:0[xX])?([0-9a-fA-F]{1,2})(?:\.([0-7]))?$/.exec(text);
  const slot = m ? parseInt(m[1], 16) : NaN;
  // QEMU: "Property 'virtio-pmem-pci.addr' doesn't take value '40'"
  if (!m || slot > 0x1f) {
    throw new UserError(`${ctx}: addr '${text}' is not a PCI address (write SLOT[.FN] in hex, slot 0 to 1f, function 0 to 7, e.g. addr=4 or addr=4.0)`);
  }
  return { slot, fn: m[2] === undefined ? 0 : Number(m[2]) };
}
