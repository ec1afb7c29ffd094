// How vCPU 0's slices share the main thread (kvm/slice-share.ts): a whole slice, a short one
// asked for by monitor input, and the guest's own slice after long work for others, which
// monitor input cannot end (a client flooding the monitor starved the guest without it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAIR_MS, planSlice, shortenNextSlice, takeShortSlice } from '../../src/kvm/slice-share.js';

test('slice plan: a whole slice, monitor input may end it early, after little work for others', () => {
  assert.deepEqual(planSlice(50, 0, 0), { ms: 50, input: true });
  assert.deepEqual(planSlice(50, 0, FAIR_MS - 0.5), { ms: 50, input: true });
});

test('slice plan: a short slice asked for lasts that long, never longer than a whole one', () => {
  assert.deepEqual(planSlice(50, 4, 1), { ms: 4, input: true });
  assert.deepEqual(planSlice(50, 80, 1), { ms: 50, input: true });
});

test('slice plan: after FAIR_MS or more of work for others, the guest gets as long (up to a whole slice) with monitor input held off', () => {
  assert.deepEqual(planSlice(50, 0, FAIR_MS), { ms: FAIR_MS, input: false });
  assert.deepEqual(planSlice(50, 0, 30), { ms: 30, input: false });
  assert.deepEqual(planSlice(50, 0, 120), { ms: 50, input: false });
  assert.deepEqual(planSlice(50, 12, 30), { ms: 12, input: false }, 'a short slice asked for still ends it');
});

test('slice share: the shortest of several requests wins, and is taken once', () => {
  shortenNextSlice(9);
  shortenNextSlice(5);
  shortenNextSlice(7);
  assert.equal(takeShortSlice(), 5);
  assert.equal(takeShortSlice(), 0);
});
