// KVM_ENABLE_CAP's number and struct kvm_enable_cap's bytes, from linux/kvm.h.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAP, KVM, encodeEnableCap } from '../../src/sys/kvm-abi.js';

test('KVM_ENABLE_CAP is _IOW(KVMIO, 0xa3, struct kvm_enable_cap) with the struct 104 bytes long', () => {
  assert.equal(KVM.ENABLE_CAP, 0x4068aea3);
  assert.equal(CAP.HALT_POLL, 182);
});

test('struct kvm_enable_cap: cap, flags 0, four u64 args little-endian, 64 bytes of padding', () => {
  const b = encodeEnableCap(CAP.HALT_POLL, [0n, 0x0102030405060708n]);
  assert.equal(b.length, 104);
  const expect = new Uint8Array(104);
  expect.set([182, 0, 0, 0]);
  expect.set([8, 7, 6, 5, 4, 3, 2, 1], 16);
  assert.deepEqual(b, expect);
});
