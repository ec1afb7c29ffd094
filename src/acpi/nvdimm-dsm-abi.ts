// How the guest's NVDIMM ACPI methods (_DSM, _LSI, _LSR, _LSW) reach pmemvm.
//
// AML cannot call the VMM directly, so the methods share one 4 KiB page of
// guest memory with pmemvm (reserved in the e820 map, inside the BIOS area)
// and ring a doorbell, a 32-bit I/O port whose write exits to pmemvm:
//
//   AML writes the request         pmemvm answers in the same page
//   0x000 u32 handle  (0 = root)   0x000 u32 length of the answer (4 + payload)
//   0x004 u32 revision             0x004 payload: u32 status, then data
//   0x008 u32 function
//   0x00C     argument bytes (the _DSM's Arg3[0] buffer; up to 4084)
//   then writes the page address to the doorbell port.
//
// Handle 0x10000 is not a device: the root's _FIT reads the current NFIT
// structures (the FIT) through it, a chunk at a time (QEMU's "read FIT").
//
// The methods are Serialized, so one request is in flight per guest. pmemvm
// copies the page before it reads a field (the guest can change it at any
// time), checks every handle, offset and length, and answers bad requests
// with a status code, never by touching anything outside the label area.

/** Guest-physical address of the shared page (reserved, in the 0xE0000-0xFFFFF BIOS area). */
export const DSM_PAGE = 0xfe000;
export const DSM_PAGE_SIZE = 0x1000;
/** The doorbell: a 32-bit port; the value written is the page address. */
export const DSM_DOORBELL_PORT = 0x0a18;

export const DSM_IN = { HANDLE: 0, REVISION: 4, FUNCTION: 8, ARG: 12 } as const;
export const DSM_OUT = { LENGTH: 0, PAYLOAD: 4 } as const;
export const DSM_ARG_MAX = DSM_PAGE_SIZE - DSM_IN.ARG; // 4084
export const DSM_PAYLOAD_MAX = DSM_PAGE_SIZE - DSM_OUT.PAYLOAD; // 4092

/** _DSM UUIDs: the NVDIMM root device, and NVDIMM_FAMILY_INTEL devices (what Linux and QEMU use). */
export const ROOT_DSM_UUID = '2f10e7a4-9e91-11e4-89d3-123b93f75cba';
export const DIMM_DSM_UUID = '4309ac30-0d11-11e4-9191-0800200c9a66';
/** The read-FIT interface of handle FIT_HANDLE (QEMU's NVDIMM_QEMU_RSVD_UUID). */
export const FIT_DSM_UUID = '648b9cf2-cda1-4312-8ad9-49c4af32bd62';
/** The pseudo-device the _FIT method asks (QEMU's NVDIMM_QEMU_RSVD_HANDLE_ROOT); no NFIT handle can be this large. */
export const FIT_HANDLE = 0x10000;
/** Its functions: 1 takes a u32 FIT offset and answers status + up to FIT_MAX_TRANSFER bytes from there. */
export const FIT_FN = { QUERY: 0, READ_FIT: 1 } as const;
/** FIT bytes one read-FIT answer carries (the payload less its status). */
export const FIT_MAX_TRANSFER = DSM_PAYLOAD_MAX - 4; // 4088

/** The only _DSM revision defined. */
export const DSM_REVISION = 1;

/** DIMM _DSM functions (Intel DSM interface): the label ones. */
export const DSM_FN = { QUERY: 0, GET_LABEL_SIZE: 4, GET_LABEL_DATA: 5, SET_LABEL_DATA: 6 } as const;

/** _DSM status codes (first u32 of every answer but function 0). */
export const DSM_STATUS = {
  SUCCESS: 0,
  NOT_SUPPORTED: 1,
  NO_SUCH_DEVICE: 2,
  INVALID_INPUT: 3,
  HARDWARE_ERROR: 4,
  /** Read FIT: the FIT changed since the read at offset 0; start again from 0. */
  FIT_CHANGED: 0x100,
} as const;

/** Label bytes one call can carry: a set-label request holds offset + length + data in the argument area. */
export const LABEL_MAX_TRANSFER = DSM_ARG_MAX - 8; // 4076
