// The test host's memory options: NVDIMMs need nvdimm=on, slots and room in maxmem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryArgs, PMEM_SIZE_MIB } from '../../testhost/runner.js';

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
