// The power-loss harness's configurations: how pmemvm is run inside the test host, with its
// backend on the test host's own disk. Each names the verdict pmemvm must print for it; the
// harness checks the records against that verdict (crash-safe: none lost; not: some lost).
export interface PowerlossConfig {
  /**
   * Where the backend lives in the test host: a file on ext4 on its disk (page cache), its
   * NVDIMM as device DAX (/dev/dax0.0), or a file on ext4 -o dax on that NVDIMM.
   */
  media: 'disk' | 'devdax' | 'daxfs';
  /** pmemvm's device and backend options for a backend file at `backend`. */
  args: (backend: string) => string[];
  /** What the start-up line must say ("crash-safe" or "not crash-safe"). */
  crashSafe: boolean;
  /** Why, in a few words, for the report. */
  about: string;
}

/** Backend size: records live in its first MiBs. */
export const BACKEND_SIZE = '64M';

const backendObject = (path: string, extra = '') => `memory-backend-file,id=m0,share=on,mem-path=${path},size=${BACKEND_SIZE}${extra}`;
const nvdimm = (object: string) => ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G', '-object', object, '-device', 'nvdimm,memdev=m0,id=dev0'];

export const CONFIGS = {
  'virtio-pmem': {
    media: 'disk',
    args: (b) => ['-m', '256M,maxmem=1G', '-object', backendObject(b), '-device', 'virtio-pmem-pci,memdev=m0,id=dev0'],
    crashSafe: true,
    about: 'virtio-pmem on a page-cache file: each guest flush is an fsync of the backend',
  },
  'nvdimm-page-cache': {
    media: 'disk',
    args: (b) => nvdimm(backendObject(b)),
    crashSafe: false,
    about: 'NVDIMM on a page-cache file (the negative control): guest flushes never reach the disk',
  },
  'nvdimm-devdax': {
    media: 'devdax',
    args: (b) => nvdimm(backendObject(b, ',align=2M')),
    crashSafe: true,
    about: 'NVDIMM on device DAX: guest stores reach the persistent memory, no page cache',
  },
  'nvdimm-dax-file': {
    media: 'daxfs',
    args: (b) => nvdimm(backendObject(b, ',pmem=on')),
    crashSafe: true,
    about: 'NVDIMM on a DAX file with pmem=on (MAP_SYNC): block allocations are committed on fault',
  },
  'nvdimm-dax-file-no-map-sync': {
    media: 'daxfs',
    args: (b) => nvdimm(backendObject(b)),
    crashSafe: false,
    about: 'NVDIMM on a DAX file without pmem=on: the blocks a fault allocates are not committed',
  },
} satisfies Record<string, PowerlossConfig>;

export type ConfigName = keyof typeof CONFIGS;

export function isConfigName(s: string): s is ConfigName { return Object.hasOwn(CONFIGS, s); }

/** A record: 512 bytes at n * 512 of the backend (n ≥ 1), this text then zeros. */
export const RECORD_SIZE = 512;
export function recordText(n: number, seed: string): string { return `PL-REC ${n} ${seed}\n`; }
