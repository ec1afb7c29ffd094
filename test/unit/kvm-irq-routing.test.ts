// KVM_SET_GSI_ROUTING and KVM_IRQFD: numbers and struct bytes from linux/kvm.h, and the table IrqRoutes installs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAP, IRQFD_FLAG, IRQ_ROUTING, KVM, encodeIrqRouting, encodeIrqfd } from '../../src/sys/kvm-abi.js';
import { IrqRoutes, routingTable, type MsiMessage } from '../../src/kvm/irq-routes.js';

const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);

test('ioctl numbers and constants match linux/kvm.h', () => {
  assert.equal(KVM.SET_GSI_ROUTING, 0x4008ae6a);
  assert.equal(KVM.IRQFD, 0x4020ae76);
  assert.deepEqual(IRQ_ROUTING, { IRQCHIP: 1, MSI: 2 });
  assert.equal(IRQFD_FLAG.DEASSIGN, 1);
  assert.equal(CAP.IRQ_ROUTING, 25);
  assert.equal(CAP.IRQFD, 32);
});

test('struct kvm_irq_routing: 8-byte header, then 48-byte entries (irqchip and MSI unions at 16)', () => {
  const b = encodeIrqRouting([
    { gsi: 9, kind: 'irqchip', irqchip: 1, pin: 1 },
    { gsi: 24, kind: 'msi', addressLo: 0xfee01000, addressHi: 0x12345678, data: 0x4041 },
  ]);
  assert.equal(b.length, 8 + 48 * 2);
  const expect = new Uint8Array(8 + 96);
  expect.set([2, 0, 0, 0, 0, 0, 0, 0]); // nr 2, flags 0
  expect.set([9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], 8);
  expect.set([24, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x00, 0x10, 0xe0, 0xfe, 0x78, 0x56, 0x34, 0x12, 0x41, 0x40, 0, 0, 0, 0, 0, 0], 56);
  assert.deepEqual(b, expect);
  assert.equal(encodeIrqRouting([]).length, 8);
});

test('struct kvm_irqfd: fd, gsi, flags, resamplefd 0, 16 bytes of padding', () => {
  const expect = new Uint8Array(32);
  expect.set([7, 0, 0, 0, 0x19, 0x01, 0, 0]);
  assert.deepEqual(encodeIrqfd(7, 0x119, 0), expect);
  expect[8] = 1;
  assert.deepEqual(encodeIrqfd(7, 0x119, IRQFD_FLAG.DEASSIGN), expect);
});

test('the installed table keeps KVM\'s default routes (16 PIC, 24 IOAPIC) and adds the MSI routes by GSI', () => {
  const msi = new Map<number, MsiMessage>([[25, { addressLo: 0xfee00000, addressHi: 0, data: 0x31 }], [24, { addressLo: 0xfee02000, addressHi: 0, data: 0x30 }]]);
  const table = routingTable(msi);
  assert.equal(table.length, 16 + 24 + 2);
  const chips = table.filter((e) => e.kind === 'irqchip');
  assert.deepEqual(chips.filter((e) => e.irqchip === 2).map((e) => [e.gsi, e.pin]), Array.from({ length: 24 }, (_, i) => [i, i]));
  assert.deepEqual(chips.filter((e) => e.irqchip === 0).map((e) => [e.gsi, e.pin]), Array.from({ length: 8 }, (_, i) => [i, i]));
  assert.deepEqual(chips.filter((e) => e.irqchip === 1).map((e) => [e.gsi, e.pin]), Array.from({ length: 8 }, (_, i) => [i + 8, i]));
  assert.deepEqual(table.slice(40), [
    { gsi: 24, kind: 'msi', addressLo: 0xfee02000, addressHi: 0, data: 0x30 },
    { gsi: 25, kind: 'msi', addressLo: 0xfee00000, addressHi: 0, data: 0x31 },
  ]);
  assert.equal(routingTable(new Map()).length, 40);
});

test('IrqRoutes: GSIs from 24, freed ones reused, installs only when a route changes', () => {
  const installs: Uint8Array[] = [];
  const r = new IrqRoutes(-1, (t) => { installs.push(t); });
  assert.equal(r.allocMsi(), 24);
  assert.equal(r.allocMsi(), 25);
  assert.equal(installs.length, 0);
  r.setMsi(25, 0xfee00000, 0, 0x41);
  r.setMsi(25, 0xfee00000, 0, 0x41);
  assert.equal(installs.length, 1);
  assert.equal(u32(installs[0], 0), 41);
  assert.equal(u32(installs[0], 8 + 48 * 40), 25);
  assert.equal(u32(installs[0], 8 + 48 * 40 + 24), 0x41);
  r.freeMsi(24); // never routed: nothing to install
  assert.equal(installs.length, 1);
  r.freeMsi(25);
  assert.equal(installs.length, 2);
  assert.equal(u32(installs[1], 0), 40);
  assert.deepEqual([r.allocMsi(), r.allocMsi(), r.allocMsi()].sort(), [24, 25, 26]);
  assert.throws(() => r.setMsi(23, 0, 0, 0));
  assert.throws(() => r.freeMsi(27));
});

test('IrqRoutes: a failed install leaves the route as KVM still has it', () => {
  let fail = false;
  const installs: Uint8Array[] = [];
  const r = new IrqRoutes(-1, (t) => { if (fail) throw new Error('EINVAL'); installs.push(t); });
  const gsi = r.allocMsi();
  r.setMsi(gsi, 0xfee00000, 0, 0x41);
  fail = true;
  assert.throws(() => r.setMsi(gsi, 0xfee00000, 0, 0x42));
  fail = false;
  r.setMsi(gsi, 0xfee00000, 0, 0x41); // unchanged from what KVM has
  assert.equal(installs.length, 1);
});
