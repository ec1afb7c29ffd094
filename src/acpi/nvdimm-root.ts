// The NVDIMM root device (_HID ACPI0012, ACPI 6.x 9.20) and one child per
// memory slot (-m slots=), whose _ADR is the NFIT device handle of the DIMM in
// that slot. Linux's nfit driver binds to the root device, and disables any
// NVDIMM whose handle has no child here; a child for every slot, as QEMU
// builds them, is ready for an NVDIMM added at run time.
//
// The root's _FIT returns the current NFIT structures, read from pmemvm in
// chunks; Linux prefers it to the NFIT at boot and evaluates it again when
// the root device is notified (0x80) of a hot-added NVDIMM.
//
// Every _DSM goes through NCAL, which passes the request to pmemvm through the
// shared page and doorbell of nvdimm-dsm-abi.ts. A DIMM with a label area also
// gets the ACPI 6.2 label methods _LSI, _LSR and (unless read-only) _LSW,
// built on the same _DSM functions 4, 5 and 6.

import * as aml from './aml.js';
import { nfitHandle } from './nfit.js';
import {
  DIMM_DSM_UUID, DSM_ARG_MAX, DSM_DOORBELL_PORT, DSM_FN, DSM_PAGE, DSM_PAGE_SIZE, DSM_PAYLOAD_MAX, DSM_REVISION, DSM_STATUS,
  FIT_DSM_UUID, FIT_FN, FIT_HANDLE, ROOT_DSM_UUID,
} from './nvdimm-dsm-abi.js';

const { arg, local } = aml;
const OBJECT_TYPE = { BUFFER: 3, PACKAGE: 4 } as const;

/** Name of the child device for a slot: NV00..NVFF, as QEMU names them. */
export function nvdimmDeviceName(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot > 0xff) throw new RangeError(`NVDIMM slot ${slot} has no ACPI name`);
  return `NV${slot.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * NCAL(UUID, Revision, Function, Arguments package, Handle): one request to pmemvm.
 * Returns pmemvm's answer (status and data) as a Buffer. A UUID that does not
 * fit the handle gets "no functions" / "not supported" without asking pmemvm.
 */
function ncal(): aml.Aml {
  return aml.method('NCAL', { args: 5, serialized: true },
    aml.opRegion('NPIO', aml.RegionSpace.SystemIO, DSM_DOORBELL_PORT, 4),
    aml.field('NPIO', { access: aml.FieldAccess.DWord }, { name: 'NTFI', bits: 32 }),
    aml.opRegion('NRAM', aml.RegionSpace.SystemMemory, DSM_PAGE, DSM_PAGE_SIZE),
    aml.field('NRAM', { access: aml.FieldAccess.DWord },
      { name: 'HDLE', bits: 32 }, { name: 'REVS', bits: 32 }, { name: 'FUNC', bits: 32 }, { name: 'FARG', bits: DSM_ARG_MAX * 8 }),
    aml.field('NRAM', { access: aml.FieldAccess.DWord }, { name: 'RLEN', bits: 32 }, { name: 'ODAT', bits: DSM_PAYLOAD_MAX * 8 }),
    aml.ifOp(aml.lEqual(arg(4), 0), aml.store(aml.toUUID(ROOT_DSM_UUID), local(0))),
    aml.elseOp(
      aml.ifOp(aml.lEqual(arg(4), FIT_HANDLE), aml.store(aml.toUUID(FIT_DSM_UUID), local(0))),
      aml.elseOp(aml.store(aml.toUUID(DIMM_DSM_UUID), local(0)))),
    aml.ifOp(aml.lNotEqual(arg(0), local(0)),
      aml.ifOp(aml.lEqual(arg(2), 0), aml.ret(aml.buffer(new Uint8Array([0])))),
      aml.ret(aml.buffer(new Uint8Array([1])))),
    aml.store(arg(4), aml.ref('HDLE')),
    aml.store(arg(1), aml.ref('REVS')),
    aml.store(arg(2), aml.ref('FUNC')),
    // The argument is Arg3[0] when that is a Buffer; anything else sends none.
    // (Nested Ifs: AML's LAnd evaluates both sides, and SizeOf fails on an Integer.)
    aml.store(0, local(3)),
    aml.ifOp(aml.lEqual(aml.objectType(arg(3)), OBJECT_TYPE.PACKAGE),
      aml.ifOp(aml.lEqual(aml.sizeOf(arg(3)), 1),
        aml.store(aml.derefOf(aml.index(arg(3), 0)), local(2)),
        aml.ifOp(aml.lEqual(aml.objectType(local(2)), OBJECT_TYPE.BUFFER), aml.store(local(2), local(3))))),
    aml.store(local(3), aml.ref('FARG')),
    aml.store(DSM_PAGE, aml.ref('NTFI')), // ring: pmemvm answers before this store completes
    aml.subtract(aml.ref('RLEN'), 4, local(1)),
    aml.ret(aml.mid(aml.ref('ODAT'), 0, local(1))),
  );
}

const callDimm = (handle: number, fn: number, args: aml.Arg) =>
  aml.call('NCAL', aml.toUUID(DIMM_DSM_UUID), DSM_REVISION, fn, args, handle);

/** A Package(1) holding Local2, built at run time (so it holds the value, not a name). */
const packLocal2 = () => [aml.store(aml.pkg(0), local(0)), aml.store(local(2), aml.index(local(0), 0))];

/** Name (INPT, Buffer (8)) holding Arg0 (offset) and Arg1 (length), as functions 5 and 6 take them. */
const offsetLength = () => [
  aml.name('INPT', aml.buffer(new Uint8Array(8))),
  aml.createDWordField(aml.ref('INPT'), 0, 'OFST'),
  aml.createDWordField(aml.ref('INPT'), 4, 'LEN_'),
  aml.store(arg(0), aml.ref('OFST')),
  aml.store(arg(1), aml.ref('LEN_')),
];

/**
 * FITS (status of the last chunk), FITR(offset) (one chunk of the FIT: its
 * bytes, or an empty Buffer at the end or on an error) and _FIT, which joins
 * the chunks and starts again from offset 0 when pmemvm answers FIT_CHANGED.
 * FITR is a method of its own so that its named fields are made anew per chunk.
 */
export function nvdimmFitMethods(): aml.Aml[] {
  const fitr = aml.method('FITR', { args: 1, serialized: true },
    aml.name('OFFB', aml.buffer(new Uint8Array(0), 4)),
    aml.createDWordField(aml.ref('OFFB'), 0, 'OFFS'),
    aml.store(arg(0), aml.ref('OFFS')),
    aml.store(aml.ref('OFFB'), local(2)),
    ...packLocal2(),
    aml.store(aml.call('NCAL', aml.toUUID(FIT_DSM_UUID), DSM_REVISION, FIT_FN.READ_FIT, local(0), FIT_HANDLE), local(3)),
    aml.createDWordField(local(3), 0, 'STTS'),
    aml.store(aml.ref('STTS'), aml.ref('FITS')),
    aml.ifOp(aml.lNotEqual(aml.ref('STTS'), DSM_STATUS.SUCCESS), aml.ret(aml.buffer(new Uint8Array(0)))),
    aml.ret(aml.mid(local(3), 4, aml.sizeOf(local(3)))), // the rest: Mid clips the length
  );
  // Local0: the FIT so far; Local1: the next offset; Local2: a chunk; Local3: its size (0: the end).
  const fit = aml.method('_FIT', { serialized: true },
    aml.store(aml.buffer(new Uint8Array(0)), local(0)),
    aml.store(0, local(1)),
    aml.store(1, local(3)),
    aml.whileOp(local(3),
      aml.store(aml.call('FITR', local(1)), local(2)),
      aml.ifOp(aml.lEqual(aml.ref('FITS'), DSM_STATUS.FIT_CHANGED),
        aml.store(aml.buffer(new Uint8Array(0)), local(0)),
        aml.store(0, local(1))),
      aml.elseOp(
        aml.store(aml.sizeOf(local(2)), local(3)),
        aml.add(local(1), local(3), local(1)),
        aml.concatenate(local(0), local(2), local(0)))),
    aml.ret(local(0)),
  );
  return [aml.name('FITS', 0), fitr, fit];
}

function labelMethods(handle: number, writable: boolean): aml.Aml[] {
  const lsi = aml.method('_LSI', { serialized: true },
    aml.store(callDimm(handle, DSM_FN.GET_LABEL_SIZE, 0), local(0)),
    aml.createDWordField(local(0), 0, 'STTS'),
    aml.createDWordField(local(0), 4, 'SLSA'),
    aml.createDWordField(local(0), 8, 'MAXT'),
    aml.store(aml.pkg(0, 0, 0), local(1)),
    aml.store(aml.ref('STTS'), aml.index(local(1), 0)),
    aml.store(aml.ref('SLSA'), aml.index(local(1), 1)),
    aml.store(aml.ref('MAXT'), aml.index(local(1), 2)),
    aml.ret(local(1)),
  );
  const lsr = aml.method('_LSR', { args: 2, serialized: true },
    ...offsetLength(),
    aml.store(aml.ref('INPT'), local(2)),
    ...packLocal2(),
    aml.store(callDimm(handle, DSM_FN.GET_LABEL_DATA, local(0)), local(3)),
    aml.createDWordField(local(3), 0, 'STTS'),
    aml.store(aml.pkg(0, 0), local(1)),
    aml.store(aml.ref('STTS'), aml.index(local(1), 0)),
    aml.store(aml.mid(local(3), 4, arg(1)), aml.index(local(1), 1)),
    aml.ret(local(1)),
  );
  const lsw = aml.method('_LSW', { args: 3, serialized: true },
    ...offsetLength(),
    aml.concatenate(aml.ref('INPT'), arg(2), local(2)),
    ...packLocal2(),
    aml.store(callDimm(handle, DSM_FN.SET_LABEL_DATA, local(0)), local(3)),
    aml.createDWordField(local(3), 0, 'STTS'),
    aml.ret(aml.ref('STTS')),
  );
  return writable ? [lsi, lsr, lsw] : [lsi, lsr];
}

export interface NvdimmAcpiDimm {
  slot: number;
  /** Has a label area: add _LSI/_LSR (and _LSW when writable). */
  labels: boolean;
  writable: boolean;
}

export interface NvdimmRootOptions {
  /** Memory slots (-m slots=, at least 1): one child device each. */
  slots: number;
  /** The NVDIMMs present at boot. */
  dimms: readonly NvdimmAcpiDimm[];
}

/** The child device of one slot; `dimm`: the NVDIMM in it at boot, if any. */
export function nvdimmSlotDevice(slot: number, dimm?: NvdimmAcpiDimm): aml.Aml {
  const handle = nfitHandle(slot);
  return aml.device(nvdimmDeviceName(slot),
    aml.name('_ADR', handle),
    aml.method('_DSM', { args: 4 }, aml.ret(aml.call('NCAL', arg(0), arg(1), arg(2), arg(3), handle))),
    ...(dimm?.labels ? labelMethods(handle, dimm.writable) : []));
}

/**
 * Device (NVDR) for \_SB, with NCAL, the root _DSM, _FIT and a child per slot.
 * A slot with an NVDIMM at boot gets its label methods; an empty one gets
 * _ADR and _DSM only (a DIMM added there later has the _DSM label functions).
 */
export function nvdimmRootDevice(o: NvdimmRootOptions): aml.Aml {
  if (!Number.isInteger(o.slots) || o.slots < 1) throw new RangeError(`NVDIMM root device: ${o.slots} slots (QEMU builds none without slots)`);
  const bySlot = new Map<number, NvdimmAcpiDimm>();
  for (const d of o.dimms) {
    if (!Number.isInteger(d.slot) || d.slot < 0 || d.slot >= o.slots) throw new RangeError(`NVDIMM in slot ${d.slot}, outside slots 0..${o.slots - 1}`);
    if (bySlot.has(d.slot)) throw new RangeError(`two NVDIMMs in slot ${d.slot}`);
    bySlot.set(d.slot, d);
  }
  const children: aml.Aml[] = [];
  for (let slot = 0; slot < o.slots; slot++) children.push(nvdimmSlotDevice(slot, bySlot.get(slot)));
  return aml.device('NVDR',
    aml.name('_HID', aml.str('ACPI0012')),
    ncal(),
    aml.method('_DSM', { args: 4 }, aml.ret(aml.call('NCAL', arg(0), arg(1), arg(2), arg(3), 0))),
    ...nvdimmFitMethods(),
    ...children);
}
