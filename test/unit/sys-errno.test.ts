// libc.ERRNO is written out (loading node:os at start cost a module load): each value must be
// the one Node's own table has for this machine, and errnoName reads that table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import * as libc from '../../src/sys/libc.js';

test('libc.ERRNO: every value is Node\'s (the kernel\'s) for that name; errnoName names them', () => {
  for (const [name, value] of Object.entries(libc.ERRNO)) {
    assert.equal(value, (constants.errno as Record<string, number>)[name], name);
    assert.equal(libc.errnoName(value), ({ EAGAIN: 'EWOULDBLOCK', EOPNOTSUPP: 'EOPNOTSUPP' } as Record<string, string>)[name] ?? name);
  }
  assert.equal(libc.errnoName(100000), 'errno 100000');
});
