// The serial console under load, on a real guest. Linux's 8250 driver sends tty output
// from its THRE interrupt: every write() sets IER.THRI, the interrupt drains the buffer,
// and the last byte clears THRI again. A lost edge on IRQ 4 stalls the writer forever,
// which is how a guest "hangs" in a command that prints a lot (issue 16: `ndctl list
// -BDRN -v` with two NVDIMMs, the one command of that script whose output exceeds a
// few writes). This test runs that command many times in one boot, then thousands of
// one-line writes; if the guest stops, pmemvm is asked where it is (SIGUSR1) and the
// answer is part of the failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sparseFile } from '../lib/files.js';
import { runGuest } from '../lib/guest.js';

const MiB = 1 << 20;
const ROUNDS = 10;
const LINES = 2000;

test(`console output never stalls: ndctl list -BDRN -v ${ROUNDS} times and ${LINES} one-line writes`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-console-'));
  try {
    const a = sparseFile(join(dir, 'a.img'), 192 * MiB), b = sparseFile(join(dir, 'b.img'), 320 * MiB);
    const script = [
      `i=0; while [ $i -lt ${ROUNDS} ]; do ndctl list -BDRN -v || echo NDCTL-FAILED; i=$((i+1)); done`,
      `i=0; while [ $i -lt ${LINES} ]; do echo "console line $i"; i=$((i+1)); done`,
      'echo CONSOLE-DONE',
    ].join('\n');
    const r = await runGuest({
      vmm: 'pmemvm',
      args: [
        '-machine', 'pc,nvdimm=on,nvdimm-persistence=mem-ctrl', '-m', '512M,slots=4,maxmem=4G', '-smp', '1',
        '-object', `memory-backend-file,id=m0,share=on,mem-path=${a},size=192M`, '-device', 'nvdimm,id=nv0,memdev=m0',
        '-object', `memory-backend-file,id=m1,share=on,mem-path=${b},size=320M`, '-device', 'nvdimm,id=nv1,memdev=m1,unarmed=on',
      ],
      script,
      timeoutMs: 300_000,
      dumpAfterMs: 290_000,
    });
    assert.ok(r.output.includes('CONSOLE-DONE'), `the guest stopped before the end of its output:\n${r.output.slice(-6000)}`);
    assert.equal(r.guestExit, 0, r.output.slice(-3000));
    assert.equal(r.exitCode, 0);
    assert.ok(!r.output.includes('NDCTL-FAILED'), r.output.slice(-3000));
    // Nothing lost on the way: every region listing and every numbered line arrived, in order.
    assert.equal(r.output.match(/"persistence_domain":"memory_controller"/g)?.length, 2 * ROUNDS, 'each listing shows both regions');
    const numbers = [...r.output.matchAll(/^console line (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(numbers, Array.from({ length: LINES }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
