// The test host's memory options: NVDIMMs need nvdimm=on, slots and room in maxmem; their files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryArgs, newHostTag, pmemDevices, PMEM_SIZE_MIB } from '../../testhost/runner.js';

test('test host memory: plain -m without NVDIMMs; with them nvdimm=on, a slot each and maxmem for them', () => {
  assert.deepEqual(memoryArgs('8G', []), ['-m', '8G', '-machine', 'pc']);
  const a = memoryArgs('8G', ['/c/a.img', '/c/b.img']);
  assert.deepEqual(a.slice(0, 4), ['-machine', 'pc,nvdimm=on', '-m', `8192M,slots=2,maxmem=${8192 + 2 * PMEM_SIZE_MIB}M`]);
  assert.deepEqual(a.slice(4), [
    '-object', `memory-backend-file,id=pmem0,share=on,mem-path=/c/a.img,size=${PMEM_SIZE_MIB}M`, '-device', 'nvdimm,memdev=pmem0,id=nvdimm0',
    '-object', `memory-backend-file,id=pmem1,share=on,mem-path=/c/b.img,size=${PMEM_SIZE_MIB}M`, '-device', 'nvdimm,memdev=pmem1,id=nvdimm1',
  ]);
  assert.throws(() => memoryArgs('8 GiB', ['/c/a.img']), /<N>M or <N>G/);
});

// Seen failing: named by pid alone, the suite's second test host truncated the first one's
// NVDIMMs when it started, under the first one's DAX tests (session 35's CI).
test('test host files: two test hosts of one process get NVDIMM files of their own; the second leaves the first one\'s as they were', () => {
  const cache = mkdtempSync(join(tmpdir(), 'pmemvm-testhost-files-'));
  try {
    const [a] = pmemDevices({ pmem: 1 }, cache, newHostTag());
    const fd = openSync(a!, 'r+');
    writeSync(fd, Buffer.from('namespace label'), 0, 15, 4096);
    closeSync(fd);
    const [b] = pmemDevices({ pmem: 1 }, cache, newHostTag());
    assert.notEqual(a, b);
    assert.equal(statSync(a!).size, PMEM_SIZE_MIB * 1024 * 1024);
    const back = Buffer.alloc(15), rd = openSync(a!, 'r');
    readSync(rd, back, 0, 15, 4096);
    closeSync(rd);
    assert.equal(back.toString(), 'namespace label', 'the first test host\'s NVDIMM was truncated');
    assert.equal(statSync(b!).size, PMEM_SIZE_MIB * 1024 * 1024);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
