// The 36-byte System Description Table header shared by every ACPI table
// except the RSDP (ACPI 6.x section 5.2.6), plus the Generic Address Structure.

import { ascii, checksum8, concat, ByteWriter, le } from './bytes.js';

export const OEM_ID = 'PMEMVM';
export const OEM_TABLE_ID = 'PMEMVMTB';
export const CREATOR_ID = 'PMVM';
export const CREATOR_REVISION = 1;
export const HEADER_SIZE = 36;

/** Offsets inside the header, for tests and patching. */
export const HEADER = { signature: 0, length: 4, revision: 8, checksum: 9, oemId: 10, oemTableId: 16 } as const;

/**
 * A complete table: header + body with the length and checksum filled in.
 * This is the generic builder for MCFG, NFIT, SSDT and anything else.
 */
export function acpiTable(signature: string, revision: number, body: Uint8Array, oemRevision = 1): Uint8Array {
  if (!/^[A-Z0-9_]{4}$/.test(signature)) throw new RangeError(`bad table signature "${signature}"`);
  const header = new ByteWriter(HEADER_SIZE)
    .bytes(ascii(signature, 4))
    .u32(HEADER_SIZE + body.length)
    .u8(revision)
    .u8(0) // checksum, patched below
    .bytes(ascii(OEM_ID, 6))
    .bytes(ascii(OEM_TABLE_ID, 8))
    .u32(oemRevision)
    .bytes(ascii(CREATOR_ID, 4))
    .u32(CREATOR_REVISION)
    .done();
  const table = concat(header, body);
  table[HEADER.checksum] = checksum8(table);
  return table;
}

/** AML table (DSDT/SSDT) around an AML term list. Revision 2 = 64-bit integers. */
export function amlTable(signature: 'DSDT' | 'SSDT', aml: Uint8Array): Uint8Array {
  return acpiTable(signature, 2, aml);
}

export const AddressSpace = { SystemMemory: 0, SystemIO: 1 } as const;
export const AccessSize = { Undefined: 0, Byte: 1, Word: 2, DWord: 3, QWord: 4 } as const;

/** Generic Address Structure (12 bytes, section 5.2.3.2). */
export function gas(space: number, bitWidth: number, address: number | bigint, accessSize: number, bitOffset = 0): Uint8Array {
  return concat(Uint8Array.of(space, bitWidth, bitOffset, accessSize), le(address, 8));
}

/** An 8-bit I/O port register, as the FADT reset/sleep registers use. */
export function ioPortGas(port: number): Uint8Array {
  return gas(AddressSpace.SystemIO, 8, port, AccessSize.Byte);
}
