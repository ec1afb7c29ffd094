// The power-loss harness's side inside the test host (see testhost/powerloss.ts): puts the
// backend on the test host's disk with writeback off, then runs pmemvm with a guest that
// writes numbered records to /dev/pmem0 and prints "ACK n" only after its fsync returned.
// It runs until the harness cuts the power (SIGKILL of the test host's QEMU).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIGS, isConfigName, RECORD_SIZE, BACKEND_SIZE, type PowerlossConfig } from './powerloss-configs.js';
import { pmemvmNodeArgs } from './paths.js';
import { DEFAULT_APPEND, guestImage } from '../test/lib/guest.js';
import { makeScriptInitrd } from '../test/lib/cpio.js';

const MNT = '/tmp/powerloss-disk';

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) { process.stdout.write(`POWERLOSS-SETUP-FAILED: ${cmd} ${args.join(' ')}\n`); process.exit(125); }
}

/** Nothing reaches the disk unless it is flushed: no periodic writeback, no background writeback, no journal commits. */
function writebackOff(): void {
  const set: [string, string][] = [
    ['dirty_writeback_centisecs', '0'], ['dirty_expire_centisecs', '360000'],
    ['dirty_background_ratio', '95'], ['dirty_ratio', '95'],
  ];
  for (const [k, v] of set) must('sh', ['-c', `echo ${v} > /proc/sys/vm/${k}`]);
}

/** The guest: record n at n * 512 of /dev/pmem0, fsync'd by dd, then acknowledged. */
function writerScript(seed: string): string {
  return [
    'i=1',
    'while :; do',
    `  printf 'PL-REC %d %s\\n' $i ${seed} | dd of=/dev/pmem0 bs=${RECORD_SIZE} seek=$i count=1 conv=sync,fsync 2>/dev/null || { echo "WRITE-FAILED $i"; exit 1; }`,
    '  echo "ACK $i"',
    '  i=$((i+1))',
    'done',
  ].join('\n');
}

/** The failing-disk configurations' disk: a device-mapper device over /dev/vda, linear until failDisk(). */
const DM = 'pl';
function diskTable(target: string): string {
  const sectors = spawnSync('blockdev', ['--getsz', '/dev/vda'], { encoding: 'utf8' }).stdout.trim();
  return `0 ${sectors} ${target}`;
}
function setUpFailableDisk(): string {
  must('dmsetup', ['create', DM, '--noudevsync', '--table', diskTable('linear /dev/vda 0')]);
  must('dmsetup', ['mknodes', DM]);
  return `/dev/mapper/${DM}`;
}
/** From now on every write to the disk fails (dm-flakey, always down); suspending first syncs the file system. */
function failDisk(): void {
  must('dmsetup', ['suspend', DM]);
  must('dmsetup', ['load', DM, '--table', diskTable('flakey /dev/vda 0 0 1 1 error_writes')]);
  must('dmsetup', ['resume', '--noudevsync', DM]);
}

/** The backend's home, as QEMU's docs/nvdimm.txt sets up DAX media; returns the backend path. */
function setUpMedia(media: 'disk' | 'devdax' | 'daxfs', failable = false): string {
  if (media === 'devdax') {
    must('ndctl', ['create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax']);
    return '/dev/dax0.0';
  }
  mkdirSync(MNT, { recursive: true });
  if (media === 'disk') must('mount', ['-t', 'ext4', '-o', 'commit=600', failable ? setUpFailableDisk() : '/dev/vda', MNT]);
  else {
    must('ndctl', ['create-namespace', '-f', '-e', 'namespace0.0', '-m', 'fsdax']);
    must('mkfs.ext4', ['-q', '-F', '/dev/pmem0']);
    must('mount', ['-t', 'ext4', '-o', 'dax,commit=600', '/dev/pmem0', MNT]);
  }
  const backend = join(MNT, 'backend.img');
  // The file and its size are on the disk before the guest writes: the trial is about the data.
  must('truncate', ['-s', BACKEND_SIZE, backend]);
  must('sync', []);
  return backend;
}

/** The guest for label configurations: namespace n is created (labels written), then acknowledged. */
function labelsScript(): string {
  return [
    'ndctl disable-region all >/dev/null 2>&1',
    'ndctl init-labels all >/dev/null 2>&1 || { echo "WRITE-FAILED init-labels"; exit 1; }',
    'ndctl enable-region all >/dev/null 2>&1',
    'i=1',
    'while :; do',
    '  ndctl create-namespace -r region0 -m raw -s 16M -n plns$i >/dev/null 2>&1 || { echo "WRITE-FAILED $i"; exit 1; }',
    '  echo "ACK $i"',
    '  i=$((i+1))',
    'done',
  ].join('\n');
}

async function main(): Promise<void> {
  const [name, seed] = process.argv.slice(2);
  if (!name || !isConfigName(name) || !seed || !/^[0-9a-z]+$/.test(seed)) {
    process.stderr.write('usage: powerloss-inner.js <config> <seed [0-9a-z]+>\n');
    process.exit(2);
  }
  writebackOff();
  const config: PowerlossConfig = CONFIGS[name];
  const failAt = config.failDiskAtAck;
  const backend = setUpMedia(config.media, failAt !== undefined);
  const img = guestImage();
  const initrd = await makeScriptInitrd(img.initrd, 'labels' in CONFIGS[name] ? labelsScript() : writerScript(seed));
  process.stdout.write('POWERLOSS-START\n');
  const child = spawn(process.execPath, [...pmemvmNodeArgs(), '-nographic',
    '-kernel', img.bzImage, '-initrd', initrd, '-append', DEFAULT_APPEND, ...config.args(backend)], { stdio: ['inherit', failAt === undefined ? 'inherit' : 'pipe', 'inherit'] });
  if (failAt !== undefined) {
    // Forward the guest's lines; right after ACK failAt, fail the disk and say so in the same stream:
    // every record acknowledged up to that line is on the disk (the suspend synced it).
    let rest = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl + 1);
        rest = rest.slice(nl + 1);
        process.stdout.write(line);
        const ack = /^ACK (\d+)\r?$/.exec(line.trimEnd());
        if (ack && Number(ack[1]) === failAt) {
          failDisk();
          process.stdout.write(`POWERLOSS-DISK-FAILING-AFTER-ACK ${failAt}\n`);
        }
      }
    });
  }
  const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
  process.stdout.write(`POWERLOSS-VMM-EXIT=${code}\n`); // only when the guest stopped writing: a failed trial
  process.exit(1);
}

await main();
