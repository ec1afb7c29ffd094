/**
 * pmemvm's side of the NVDIMM _DSM doorbell (protocol: acpi/nvdimm-dsm-abi.ts).
 * The guest rings with the page address; we copy the request out of guest
 * memory first, then decide, then write the answer back into the page.
 * Nothing the guest sends can make us read or write outside a label area
 * (or, for the _FIT's reads, outside the FIT).
 */
import type { BusDevice } from './bus.js';
import {
  DSM_FN, DSM_IN, DSM_OUT, DSM_PAGE, DSM_PAGE_SIZE, DSM_REVISION, DSM_STATUS, FIT_FN, FIT_HANDLE, LABEL_MAX_TRANSFER,
} from '../acpi/nvdimm-dsm-abi.js';
import { FitReader } from './nvdimm-fit.js';

/** One NVDIMM's label storage as the DSM sees it. */
export interface LabelArea {
  readonly size: number;
  readonly writable: boolean;
  read(offset: number, len: number): Uint8Array;
  /** Store, and make durable when the backend promises that (pmem=on). */
  write(offset: number, data: Uint8Array): void;
}

export interface DsmMemory {
  read(gpa: number, len: number): Uint8Array;
  write(gpa: number, data: Uint8Array): void;
}

export interface NvdimmDsmOptions {
  memory: DsmMemory;
  /** NFIT handle -> label area; a handle with no label area has no DIMM functions. */
  dimms: ReadonlyMap<number, LabelArea | null>;
  /** The current NFIT structures, for the root device's _FIT (none: an empty FIT). */
  fit?: () => Uint8Array;
  /** Rejected requests, for the log (rate limited by the caller if it likes). */
  onReject?: (why: string) => void;
  /** Each read-FIT request and its answer, for the debug log. */
  onFitRead?: (offset: number, status: number, bytes: number) => void;
}

type Answer = { status: number; data?: Uint8Array } | { mask: number };

export class NvdimmDsm implements BusDevice {
  readonly width = 4;
  private readonly memory: DsmMemory;
  private readonly dimms: Map<number, LabelArea | null>;
  private readonly fit: FitReader;
  private readonly onReject: (why: string) => void;
  private readonly onFitRead: (offset: number, status: number, bytes: number) => void;

  constructor(o: NvdimmDsmOptions) {
    this.memory = o.memory;
    this.dimms = new Map(o.dimms);
    this.fit = new FitReader(o.fit ?? (() => new Uint8Array(0)));
    this.onReject = o.onReject ?? (() => {});
    this.onFitRead = o.onFitRead ?? (() => {});
  }

  /** A hot-added NVDIMM: its _DSM label functions answer from now on. */
  addDimm(handle: number, labels: LabelArea | null): void {
    if (!Number.isInteger(handle) || handle <= 0 || handle >= FIT_HANDLE) throw new RangeError(`NVDIMM handle ${handle} is not a DIMM's`);
    if (this.dimms.has(handle)) throw new Error(`NVDIMM handle 0x${handle.toString(16)} is taken`);
    this.dimms.set(handle, labels);
  }

  /** The FIT changed (call after the provider returns the new one): a _FIT read under way starts again. */
  fitChanged(): void {
    this.fit.changed();
  }

  /** For the state dump. */
  describe(): string {
    return `${this.dimms.size} DIMMs, ${this.fit.describe()}`;
  }

  read(): number { return 0; }

  write(offset: number, size: number, value: number): void {
    // Only a whole 32-bit write of our page's address rings; anything else is ignored.
    if (offset !== 0 || size !== 4 || value >>> 0 !== DSM_PAGE) {
      this.onReject(`doorbell write of 0x${(value >>> 0).toString(16)}/${size} at +${offset} ignored`);
      return;
    }
    const page = this.memory.read(DSM_PAGE, DSM_PAGE_SIZE); // a private copy
    const answer = this.handle(page);
    this.reply(answer);
  }

  /** Decide the answer from a copied request page. */
  handle(page: Uint8Array): Answer {
    const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const handle = v.getUint32(DSM_IN.HANDLE, true);
    const revision = v.getUint32(DSM_IN.REVISION, true);
    const fn = v.getUint32(DSM_IN.FUNCTION, true);
    const arg = page.subarray(DSM_IN.ARG);
    const argv = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);

    if (revision !== DSM_REVISION) return this.reject(DSM_STATUS.NOT_SUPPORTED, `revision ${revision}`);
    if (handle === 0) return fn === DSM_FN.QUERY ? { mask: 0 } : { status: DSM_STATUS.NOT_SUPPORTED };
    if (handle === FIT_HANDLE) {
      if (fn === FIT_FN.QUERY) return { mask: 1 | (1 << FIT_FN.READ_FIT) };
      if (fn !== FIT_FN.READ_FIT) return { status: DSM_STATUS.NOT_SUPPORTED };
      const offset = argv.getUint32(0, true);
      const answer = this.fit.read(offset);
      if (answer.status === DSM_STATUS.INVALID_INPUT) this.onReject(`FIT read at 0x${offset.toString(16)}, past the FIT's end`);
      this.onFitRead(offset, answer.status, answer.data?.length ?? 0);
      return answer;
    }
    if (!this.dimms.has(handle)) return this.reject(DSM_STATUS.NO_SUCH_DEVICE, `handle 0x${handle.toString(16)}`);
    const labels = this.dimms.get(handle) ?? null;
    if (fn === DSM_FN.QUERY) {
      if (!labels) return { mask: 0 };
      const set = labels.writable ? 1 << DSM_FN.SET_LABEL_DATA : 0;
      return { mask: 1 | (1 << DSM_FN.GET_LABEL_SIZE) | (1 << DSM_FN.GET_LABEL_DATA) | set };
    }
    if (!labels) return { status: DSM_STATUS.NOT_SUPPORTED };

    switch (fn) {
      case DSM_FN.GET_LABEL_SIZE: {
        const data = new Uint8Array(8);
        const d = new DataView(data.buffer);
        d.setUint32(0, labels.size, true);
        d.setUint32(4, LABEL_MAX_TRANSFER, true);
        return { status: DSM_STATUS.SUCCESS, data };
      }
      case DSM_FN.GET_LABEL_DATA: {
        const offset = argv.getUint32(0, true);
        const len = argv.getUint32(4, true);
        const bad = checkRange(labels, offset, len);
        if (bad) return this.reject(DSM_STATUS.INVALID_INPUT, `label read ${bad}`);
        return { status: DSM_STATUS.SUCCESS, data: labels.read(offset, len) };
      }
      case DSM_FN.SET_LABEL_DATA: {
        if (!labels.writable) return { status: DSM_STATUS.NOT_SUPPORTED };
        const offset = argv.getUint32(0, true);
        const len = argv.getUint32(4, true);
        const bad = checkRange(labels, offset, len);
        if (bad) return this.reject(DSM_STATUS.INVALID_INPUT, `label write ${bad}`);
        try {
          labels.write(offset, arg.slice(8, 8 + len));
        } catch (e) {
          this.onReject(`label write failed: ${(e as Error).message}`);
          return { status: DSM_STATUS.HARDWARE_ERROR };
        }
        return { status: DSM_STATUS.SUCCESS };
      }
      default:
        return { status: DSM_STATUS.NOT_SUPPORTED };
    }
  }

  private reject(status: number, why: string): Answer {
    this.onReject(why);
    return { status };
  }

  private reply(a: Answer): void {
    let payload: Uint8Array;
    if ('mask' in a) {
      payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, a.mask, true);
    } else {
      const data = a.data ?? new Uint8Array(0);
      payload = new Uint8Array(4 + data.length);
      new DataView(payload.buffer).setUint32(0, a.status, true);
      payload.set(data, 4);
    }
    const out = new Uint8Array(DSM_OUT.PAYLOAD + payload.length);
    new DataView(out.buffer).setUint32(DSM_OUT.LENGTH, out.length, true);
    out.set(payload, DSM_OUT.PAYLOAD);
    this.memory.write(DSM_PAGE, out);
  }
}

/** Why [offset, offset+len) is not a transfer the label area allows, or null. */
function checkRange(labels: LabelArea, offset: number, len: number): string | null {
  if (len > LABEL_MAX_TRANSFER) return `of ${len} bytes is over the ${LABEL_MAX_TRANSFER}-byte transfer limit`;
  if (offset > labels.size || len > labels.size - offset) {
    return `at 0x${offset.toString(16)}+0x${len.toString(16)} is outside the 0x${labels.size.toString(16)}-byte label area`;
  }
  return null;
}
