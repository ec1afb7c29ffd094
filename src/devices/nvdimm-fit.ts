/**
 * pmemvm's side of "read FIT" (handle FIT_HANDLE of nvdimm-dsm-abi.ts): the
 * root device's _FIT reads the current NFIT structures in chunks, from offset
 * 0 up. A FIT change between two chunks (a hot-added NVDIMM) would splice two
 * different tables, so after fitChanged() every read but one at offset 0
 * answers FIT_CHANGED until the guest starts again from 0 (as QEMU does).
 */
import { DSM_STATUS, FIT_MAX_TRANSFER } from '../acpi/nvdimm-dsm-abi.js';

export interface FitAnswer {
  status: number;
  data?: Uint8Array;
}

export class FitReader {
  private dirty = false;
  private reads = 0;
  private restarts = 0;

  /** `fit`: the current NFIT structures (no table header). */
  constructor(private readonly fit: () => Uint8Array) {}

  /** The FIT is different now: a read already under way must start again. */
  changed(): void {
    this.dirty = true;
  }

  /** One chunk from `offset` (a u32 from the guest). An empty chunk is the end. */
  read(offset: number): FitAnswer {
    this.reads++;
    const fit = this.fit();
    // QEMU checks the offset first, so a bad one says "invalid" even when the FIT changed.
    if (offset > fit.length) return { status: DSM_STATUS.INVALID_INPUT };
    if (offset === 0) this.dirty = false;
    else if (this.dirty) {
      this.restarts++;
      return { status: DSM_STATUS.FIT_CHANGED };
    }
    const len = Math.min(fit.length - offset, FIT_MAX_TRANSFER);
    return { status: DSM_STATUS.SUCCESS, data: fit.slice(offset, offset + len) };
  }

  /** For the state dump. */
  describe(): string {
    return `${this.reads} FIT reads, ${this.restarts} FIT-changed answers${this.dirty ? ', FIT changed since the last read from offset 0' : ''}`;
  }
}
