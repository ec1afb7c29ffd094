import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSuite } from '../../testhost/suite-plan.js';
import { tapCounts } from '../../testhost/suite.js';

test('suite plan: each guest file alone, the quick files in one batch, longest first, names sort in plan order', () => {
  const files = ['dist/test/cli/a.test.js', 'dist/test/guest/boot.test.js', 'dist/test/guest/hotplug.test.js',
    'dist/test/guest/new-thing.test.js', 'dist/test/lib/guest.test.js', 'dist/test/lib/cpio.test.js', 'dist/test/unit/x.test.js'];
  const plan = planSuite(files);
  assert.deepEqual(plan.map((b) => b.name), ['01-hotplug', '02-unit-and-cli', '03-boot', '04-new-thing', '05-guest']);
  assert.deepEqual(plan[1]!.files, ['dist/test/cli/a.test.js', 'dist/test/lib/cpio.test.js', 'dist/test/unit/x.test.js']);
  assert.deepEqual(plan.flatMap((b) => b.files).sort(), [...files].sort());
  assert.deepEqual([...plan.map((b) => b.name)].sort(), plan.map((b) => b.name));
});

test('suite totals: the closing counts of a node --test run', () => {
  const tap = 'ok 1 - a\n# Subtest: x\n# tests 1\n# pass 1\n...\n# tests 7\n# suites 0\n# pass 5\n# fail 2\n# cancelled 0\n# skipped 0\n# todo 0\n';
  assert.deepEqual(tapCounts(tap), { tests: 7, pass: 5, fail: 2, cancelled: 0, skipped: 0, todo: 0 });
});
