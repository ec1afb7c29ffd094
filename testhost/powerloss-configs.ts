// The power-loss harness's configurations: how pmemvm is run inside the test host, with its
// backend on the test host's own disk. Each names the verdict pmemvm must print for it; the
// harness checks the records against that verdict (crash-safe: none lost; not: some lost).
export interface PowerlossConfig {
  /** pmemvm's device and backend options for a backend file at `backend`. */
  args: (backend: string) => string[];
  /** What the start-up line must say ("crash-safe" or "not crash-safe"). */
  crashSafe: boolean;
  /** Why, in a few words, for the report. */
  about: string;
}

/** Backend size: records live in its first MiBs. */
export const BACKEND_SIZE = '64M';

const backendObject = (path: string) => `memory-backend-file,id=m0,share=on,mem-path=${path},size=${BACKEND_SIZE}`;

export const CONFIGS = {
  'virtio-pmem': {
    args: (b) => ['-m', '256M,maxmem=1G', '-object', backendObject(b), '-device', 'virtio-pmem-pci,memdev=m0,id=dev0'],
    crashSafe: true,
    about: 'virtio-pmem on a page-cache file: each guest flush is an fsync of the backend',
  },
  'nvdimm-page-cache': {
    args: (b) => ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G', '-object', backendObject(b), '-device', 'nvdimm,memdev=m0,id=dev0'],
    crashSafe: false,
    about: 'NVDIMM on a page-cache file (the negative control): guest flushes never reach the disk',
  },
} satisfies Record<string, PowerlossConfig>;

export type ConfigName = keyof typeof CONFIGS;

export function isConfigName(s: string): s is ConfigName { return Object.hasOwn(CONFIGS, s); }

/** A record: 512 bytes at n * 512 of the backend (n ≥ 1), this text then zeros. */
export const RECORD_SIZE = 512;
export function recordText(n: number, seed: string): string { return `PL-REC ${n} ${seed}\n`; }
