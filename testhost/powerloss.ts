// The power-loss harness: runs pmemvm inside a test host whose disk is an ext4 image on this
// machine, lets the guest write and acknowledge records, and cuts the power at a random
// moment (SIGKILL of the test host's QEMU: its RAM and page cache vanish; what QEMU had
// written to the image stays, as on a disk). Then it checks the image as a rebooted host
// would: e2fsck replays the journal on a copy, debugfs reads the backend out, and every
// acknowledged record must be there iff pmemvm's start-up line called the backend crash-safe.
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PMEM_SIZE_MIB, runInTestHost } from './runner.js';
import { CONFIGS, LABEL_SIZE, RECORD_SIZE, recordText, type ConfigName, type PowerlossConfig } from './powerloss-configs.js';
import { pmemvmNodeArgs, repoRoot } from './paths.js';

export interface TrialResult {
  config: ConfigName;
  seed: string;
  /** pmemvm's start-up verdict for the device: true = "crash-safe". */
  crashSafe: boolean;
  verdictLine: string;
  /** Records the guest acknowledged before the power cut. */
  acked: number;
  /** Acknowledged records missing or wrong on the disk after the crash. */
  lost: number[];
  /** e2fsck -fy's status on the crashed file system (0, or 1 after a journal replay); null: device DAX, no file system. */
  fsckRepair: number | null;
  /** Milliseconds between consecutive acknowledgements, as the harness saw them (write + flush + console). */
  ackGapsMs: number[];
  /** Failing-disk configurations: records up to this one were acknowledged before the disk failed, and must be there. */
  failedAfterAck?: number;
  /** Failing-disk configurations: pmemvm logged the failed sync and that the device is no longer crash-safe. */
  syncErrorLogged?: boolean;
}

export class TrialError extends Error {}

const DISK_SIZE = 512 << 20;

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A fresh ext4 image, fully initialised so the test host writes nothing in the background. */
function makeDisk(path: string): void {
  spawnSync('truncate', ['-s', String(DISK_SIZE), path]);
  const r = run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', path]);
  if (r.status !== 0) throw new TrialError(`mkfs.ext4 failed: ${r.out}`);
}

/**
 * One trial: boot, let the guest acknowledge 1 to `maxAcks` records, wait up to `maxDelayMs`
 * more (a cut in the middle of a write or flush), cut the power, check the disk.
 */
export async function runTrial(config: ConfigName, opts: { maxAcks?: number; maxDelayMs?: number; rng?: () => number; log?: (s: string) => void } = {}): Promise<TrialResult> {
  const rng = opts.rng ?? Math.random;
  const seed = Math.floor(rng() * 36 ** 8).toString(36);
  // Label configurations: the backend holds 15 namespaces of 16M; stay clear of the end.
  const cfg: PowerlossConfig = CONFIGS[config];
  // Failing-disk configurations: cut a few acknowledgements after the disk failed.
  const cutAfterAcks = (cfg.failDiskAtAck !== undefined ? cfg.failDiskAtAck + 2 : 1) + Math.floor(rng() * (opts.maxAcks ?? (cfg.labels ? 6 : 12)));
  const delayMs = Math.floor(rng() * (opts.maxDelayMs ?? 1500));
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-powerloss-'));
  try {
    const media = CONFIGS[config].media;
    // The disk always: an L1 without /dev/vda would be another machine. NVDIMM media: one L1
    // NVDIMM on a file here, kept after the cut like the disk.
    const disk = join(dir, 'disk.img');
    makeDisk(disk);
    const pmemFile = join(dir, 'l1-nvdimm.img');
    if (media !== 'disk') { writeFileSync(pmemFile, ''); spawnSync('truncate', ['-s', `${PMEM_SIZE_MIB}M`, pmemFile]); }
    const cut = new AbortController();
    let out = '';
    let seen = 0; // `out` up to here is whole lines already looked at (chunks split lines)
    const ackTimes: number[] = [];
    let acked = 0;
    const onOutput = (text: string) => {
      out += text;
      const end = out.lastIndexOf('\n') + 1;
      for (const line of out.slice(seen, end).split('\n')) {
        const m = /^ACK (\d+)\r?$/.exec(line);
        if (!m || Number(m[1]) <= acked) continue;
        acked = Number(m[1]);
        ackTimes.push(Date.now());
        if (ackTimes.length === cutAfterAcks) setTimeout(() => cut.abort(), delayMs);
      }
      seen = end;
    };
    const status = await runInTestHost([process.execPath, join(repoRoot, 'dist', 'testhost', 'powerloss-inner.js'), config, seed], {
      cwd: repoRoot, disk, ...(media === 'disk' ? { pmem: 0 } : { pmemFiles: [pmemFile] }), retries: 0, timeoutMs: 5 * 60_000, onOutput, powerCut: cut.signal,
    });
    if (status === 130 || status === 143) throw new Error(`${config}: interrupted (status ${status})`); // stop the campaign too
    if (status !== 137) throw new TrialError(`${config}: the test host ended (status ${status}) before the power cut; its output:\n${out}`);
    const verdictLine = /^pmemvm: dev0: .*$/m.exec(out)?.[0];
    if (!verdictLine) throw new TrialError(`${config}: pmemvm printed no start-up verdict for dev0:\n${out}`);
    const crashSafe = / is crash-safe /.test(verdictLine);

    let data: Buffer;
    let fsckRepair: number | null = null;
    if (media === 'devdax') {
      data = readAt(pmemFile, namespaceData(pmemFile, 'NVDIMM_DAX_INFO'), RECORD_AREA);
    } else {
      // The crashed file system, as the next boot would see it: on a copy, journal replayed.
      const copy = join(dir, 'after.img');
      if (media === 'disk') copyFileSync(disk, copy);
      else copyFrom(pmemFile, namespaceData(pmemFile, 'NVDIMM_PFN_INFO'), copy);
      const repair = run('e2fsck', ['-fy', copy]);
      if (repair.status !== 0 && repair.status !== 1) throw new TrialError(`${config}: e2fsck -fy exit ${repair.status}: the file system is damaged:\n${repair.out}`);
      const clean = run('e2fsck', ['-fn', copy]);
      if (clean.status !== 0) throw new TrialError(`${config}: e2fsck -fn after the repair exit ${clean.status}:\n${clean.out}`);
      fsckRepair = repair.status;
      const backend = join(dir, 'backend.img');
      run('debugfs', ['-R', `dump /backend.img ${backend}`, copy]);
      if (!existsSync(backend)) throw new TrialError(`${config}: debugfs found no /backend.img on the crashed disk`);
      data = readFileSync(backend);
    }
    const lost: number[] = [];
    if (cfg.labels) {
      // Namespace n's label is there for every acknowledged n (img reads the label area as Linux would).
      const found = labelledNamespaces(join(dir, 'backend.img'), cfg.labels.durable);
      for (let n = 1; n <= acked; n++) if (!found.has(n)) lost.push(n);
    } else {
      for (let n = 1; n <= acked; n++) {
        const want = recordText(n, seed);
        if (data.toString('latin1', n * RECORD_SIZE, n * RECORD_SIZE + want.length) !== want) lost.push(n);
      }
    }
    opts.log?.(`${config}: seed ${seed}, cut ${delayMs} ms after ack ${cutAfterAcks}; ${acked} acknowledged, ${lost.length} lost, e2fsck -fy ${fsckRepair ?? '-'}`);
    const ackGapsMs = ackTimes.slice(1).map((t, i) => t - ackTimes[i]!);
    const result: TrialResult = { config, seed, crashSafe, verdictLine, acked, lost, fsckRepair, ackGapsMs };
    if (cfg.failDiskAtAck !== undefined) {
      const failed = /^POWERLOSS-DISK-FAILING-AFTER-ACK (\d+)\r?$/m.exec(out);
      if (!failed) throw new TrialError(`${config}: the disk never failed (no POWERLOSS-DISK-FAILING line):\n${out}`);
      result.failedAfterAck = Number(failed[1]);
      result.syncErrorLogged = /^pmemvm: error: nvdimm 'dev0': fdatasync of memdev 'm0' .* failed: EIO; .* no longer crash-safe\r?$/m.test(out);
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export { CONFIGS };

/**
 * Which namespaces plnsN have a valid label in the backend's label area (pmemvm img info);
 * where labels must be durable, the area must also pass pmemvm img check.
 */
function labelledNamespaces(backend: string, mustCheck: boolean): Set<number> {
  const img = (args: string[]) => run(process.execPath, [...pmemvmNodeArgs(), 'img', ...args, backend, `--label-size=${LABEL_SIZE}`]);
  if (mustCheck) {
    const check = img(['check']);
    if (check.status !== 0) throw new TrialError(`pmemvm img check of the crashed label area failed:\n${check.out}`);
  }
  const info = img(['info', '--json']);
  let labels: { name?: string; valid?: boolean }[] = [];
  try { labels = (JSON.parse(info.out) as { labels?: typeof labels }).labels ?? []; } catch { /* no label area: nothing there */ }
  return new Set(labels.flatMap((l) => (l.valid !== false && /^plns\d+$/.test(l.name ?? '') ? [Number(l.name!.slice(4))] : [])));
}

/** Records live in the backend's first MiBs. */
const RECORD_AREA = 16 << 20;

function readAt(path: string, offset: number, len: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * Where a label-less namespace's data starts in the L1's NVDIMM file: ndctl wrote an info
 * block (Linux's struct nd_pfn_sb) 4 KiB in, whose dataoff (at 56) counts from start_pad (at 76).
 */
function namespaceData(path: string, signature: string): number {
  const sb = readAt(path, 4096, 128);
  const sig = sb.toString('latin1', 0, 16).replace(/\0+$/, '');
  if (sig !== signature) throw new TrialError(`the test host's NVDIMM holds no ${signature} block (found ${JSON.stringify(sig)})`);
  return Number(sb.readBigUInt64LE(56)) + sb.readUInt32LE(76);
}

/** The bytes of `path` from `offset` on, into a new file (the fsdax namespace's file system). */
function copyFrom(path: string, offset: number, out: string): void {
  const r = spawnSync('dd', [`if=${path}`, `of=${out}`, 'bs=1M', `skip=${offset}`, 'iflag=skip_bytes', 'conv=sparse', 'status=none']);
  if (r.status !== 0) throw new TrialError(`dd failed: ${r.stderr}`);
}
