/**
 * A parsed -device (or device_add) as the machine's live device set takes it:
 * sizes as numbers. One conversion for the command line and the monitor.
 */
import type { NvdimmConfig, VirtioPmemConfig } from '../machine/memory-devices.js';
import type { NvdimmDevice, VirtioPmemDevice } from './devices.js';
import { sizeToNumber } from './size.js';

export function nvdimmConfig(d: NvdimmDevice): NvdimmConfig {
  return {
    id: d.id,
    memdev: d.memdev,
    labelSize: d.labelSize === undefined ? 0 : sizeToNumber(d.labelSize, 'label-size'),
    unarmed: d.unarmed,
    labelOverwrite: d.labelOverwrite,
    flushHint: d.flushHint,
    slot: d.slot,
    addr: d.addr === undefined ? undefined : sizeToNumber(d.addr, 'addr'),
  };
}

export function virtioPmemConfig(d: VirtioPmemDevice): VirtioPmemConfig {
  return { id: d.id, memdev: d.memdev, pciSlot: d.pciAddr?.slot };
}
