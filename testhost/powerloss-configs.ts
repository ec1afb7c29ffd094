// The power-loss harness's configurations: how pmemvm is run inside the test host, with its
// backend on the test host's own media. Each names the verdict pmemvm must print for it; the
// harness checks the records against that verdict (crash-safe: none lost; not: some lost).
// Label configurations check NVDIMM labels instead: durable with pmem=on, else not.
import { dirname } from 'node:path';

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
  /**
   * Instead of records: the guest creates one namespace after another (ndctl, so _LSW label
   * writes) and acknowledges each; `durable` says whether those labels must survive.
   */
  labels?: { durable: boolean };
  /**
   * The disk starts failing every write (dm-flakey) once the guest has acknowledged this many
   * records: what was acknowledged before is on the disk, and pmemvm must log the failed sync.
   */
  failDiskAtAck?: number;
}

/** Whether acknowledged writes may be lost in this configuration. */
export function expectsLoss(c: PowerlossConfig): boolean { return c.labels ? !c.labels.durable : !c.crashSafe || c.failDiskAtAck !== undefined; }

/** Backend size: records live in its first MiBs. */
export const BACKEND_SIZE = '256M';
/** Label area of the label configurations (the last bytes of the backend). */
export const LABEL_SIZE = '128K';

const backendObject = (path: string, extra = '') => `memory-backend-file,id=m0,share=on,mem-path=${path},size=${BACKEND_SIZE}${extra}`;
const nvdimm = (object: string, device = '') => ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G', '-object', object, '-device', `nvdimm,memdev=m0,id=dev0${device}`];
const virtioPmem = (object: string) => ['-m', '256M,maxmem=1G', '-object', object, '-device', 'virtio-pmem-pci,memdev=m0,id=dev0'];
const nvdimmLabels = (object: string) => nvdimm(object, `,label-size=${LABEL_SIZE}`);

export const CONFIGS = {
  'virtio-pmem': {
    media: 'disk',
    args: (b) => virtioPmem(backendObject(b)),
    crashSafe: true,
    about: 'virtio-pmem on a page-cache file: each guest flush is an fsync of the backend',
  },
  'nvdimm-page-cache': {
    media: 'disk',
    args: (b) => nvdimm(backendObject(b)),
    crashSafe: false,
    about: 'NVDIMM on a page-cache file (the negative control): guest flushes never reach the disk',
  },
  'nvdimm-flush-hint': {
    media: 'disk',
    args: (b) => nvdimm(backendObject(b), ',flush-hint=on'),
    crashSafe: true,
    about: 'NVDIMM on a page-cache file with flush-hint=on: each guest flush writes the NFIT flush hint, and pmemvm fdatasync()s the backend before the write completes',
  },
  'nvdimm-flush-hint-failing-disk': {
    media: 'disk',
    args: (b) => nvdimm(backendObject(b), ',flush-hint=on'),
    crashSafe: true,
    about: 'NVDIMM with flush-hint=on whose disk starts failing writes: the guest cannot be told (a flush hint has no status), so pmemvm logs each failed fdatasync and reports the device not crash-safe; what the guest flushed after it is lost',
    failDiskAtAck: 3,
  },
  'nvdimm-pmem-on-page-cache': {
    media: 'disk',
    args: (b) => nvdimm(backendObject(b, ',pmem=on')),
    crashSafe: false,
    about: 'NVDIMM with pmem=on on a file that is not DAX (QEMU\'s fallback, the kernel refuses MAP_SYNC): guest writes sit in the page cache',
  },
  'nvdimm-share-off': {
    media: 'disk',
    args: (b) => ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G', '-object', backendObject(b).replace('share=on', 'share=off'), '-device', 'nvdimm,memdev=m0,id=dev0'],
    crashSafe: false,
    about: 'NVDIMM with share=off: a private copy, the file never sees a guest write',
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
  'virtio-pmem-devdax': {
    media: 'devdax',
    args: (b) => virtioPmem(backendObject(b, ',align=2M')),
    crashSafe: true,
    about: 'virtio-pmem on device DAX: guest stores reach the persistent memory; a guest flush needs no host call',
  },
  'virtio-pmem-dax-file': {
    media: 'daxfs',
    args: (b) => virtioPmem(backendObject(b, ',pmem=on')),
    crashSafe: true,
    about: 'virtio-pmem on a DAX file with pmem=on (MAP_SYNC): stores reach the media and faults commit the blocks, so a guest flush needs no host fsync',
  },
  // Verdicts decided by an option that keeps nothing: each on virtio-pmem on the disk, which
  // would be crash-safe without that option, so the loss is the option's.
  'virtio-pmem-ram': {
    media: 'disk',
    args: () => virtioPmem(`memory-backend-ram,id=m0,size=${BACKEND_SIZE}`),
    crashSafe: false,
    about: 'virtio-pmem on memory-backend-ram (the control for RAM): nothing is written to any file',
  },
  'virtio-pmem-temporary': {
    media: 'disk',
    args: (b) => virtioPmem(backendObject(dirname(b))),
    crashSafe: false,
    about: 'virtio-pmem with mem-path a directory: the file pmemvm creates there is unlinked at once',
  },
  'virtio-pmem-discard-data': {
    media: 'disk',
    args: (b) => virtioPmem(backendObject(b, ',discard-data=on')),
    crashSafe: false,
    about: 'virtio-pmem with discard-data=on: guest flushes are not synced to the file',
  },
  'virtio-pmem-readonly': {
    media: 'disk',
    args: (b) => virtioPmem(backendObject(b, ',readonly=on')),
    crashSafe: false,
    about: 'virtio-pmem with readonly=on: guest writes are refused (the guest sees its stores vanish)',
  },
  'nvdimm-labels-pmem': {
    media: 'disk',
    args: (b) => nvdimmLabels(backendObject(b, ',pmem=on')),
    crashSafe: false,
    about: 'NVDIMM labels with pmem=on on a page-cache file: each _LSW is msync()ed and fsync()ed before it returns',
    labels: { durable: true },
  },
  'nvdimm-labels': {
    media: 'disk',
    args: (b) => nvdimmLabels(backendObject(b)),
    crashSafe: false,
    about: 'NVDIMM labels without pmem=on (the negative control): label writes sit in the page cache',
    labels: { durable: false },
  },
} satisfies Record<string, PowerlossConfig>;

export type ConfigName = keyof typeof CONFIGS;

export function isConfigName(s: string): s is ConfigName { return Object.hasOwn(CONFIGS, s); }

/** A record: 512 bytes at n * 512 of the backend (n ≥ 1), this text then zeros. */
export const RECORD_SIZE = 512;
export function recordText(n: number, seed: string): string { return `PL-REC ${n} ${seed}\n`; }
