// The ACPI PCI hotplug registers: QEMU 7.2's read/write behaviour (up clears on
// read, down stays until ejected), and an eject only for a slot the host asked
// to unplug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciHotplugRegisters } from '../../src/devices/pci-hotplug.js';
import { PCIHP_IO_BASE, PCIHP_IO_SIZE, PCIHP_REG, pcHotplugSlots } from '../../src/acpi/pci-hotplug.js';
import { IoBus } from '../../src/devices/bus.js';

function setup(slots = pcHotplugSlots()) {
  const ejected: number[] = [];
  const refused: number[] = [];
  const regs = new PciHotplugRegisters({ slots, onEject: (s) => ejected.push(s), onRefusedEject: (s) => refused.push(s) });
  return { regs, ejected, refused };
}

test('QEMU\'s register offsets and block size', () => {
  assert.equal(PCIHP_IO_BASE, 0xae00);
  assert.equal(PCIHP_IO_SIZE, 0x18);
  assert.deepEqual(PCIHP_REG, { UP: 0, DOWN: 4, EJECT: 8, HOTPLUG_ENABLE: 0xc, BUS_SELECT: 0x10, ACPI_INDEX: 0x14 });
});

test('plug sets the up bit; a read returns it and clears it; bits accumulate until read', () => {
  const { regs } = setup();
  assert.equal(regs.read(PCIHP_REG.UP, 4), 0);
  regs.plug(2);
  regs.plug(31);
  assert.equal(regs.read(PCIHP_REG.UP, 4), (0x4 | 0x80000000) >>> 0);
  assert.equal(regs.read(PCIHP_REG.UP, 4), 0);
});

test('requestUnplug sets the down bit, which reads back until the guest ejects the slot', () => {
  const { regs, ejected } = setup();
  regs.requestUnplug(5);
  assert.equal(regs.read(PCIHP_REG.DOWN, 4), 0x20);
  assert.equal(regs.read(PCIHP_REG.DOWN, 4), 0x20);
  assert.deepEqual(regs.pendingUnplugs(), [5]);
  assert.equal(regs.unplugPending(5), true);
  regs.write(PCIHP_REG.EJECT, 4, 0x20);
  assert.deepEqual(ejected, [5]);
  assert.equal(regs.read(PCIHP_REG.DOWN, 4), 0);
  assert.equal(regs.unplugPending(5), false);
  // A second _EJ0 of the same slot (a repeated PCNT) does not eject twice.
  regs.write(PCIHP_REG.EJECT, 4, 0x20);
  assert.deepEqual(ejected, [5]);
});

test('an eject of a slot the host did not unplug is refused and counted; a pending one next to it still goes', () => {
  const { regs, ejected, refused } = setup();
  regs.write(PCIHP_REG.EJECT, 4, 0x4);
  assert.deepEqual([ejected, refused], [[], [2]]);
  regs.requestUnplug(3);
  regs.write(PCIHP_REG.EJECT, 4, 0x4 | 0x8 | 0x1);
  assert.deepEqual([ejected, refused], [[3], [2, 0, 2]]);
  assert.match(regs.describe(), /^up 0x0, down 0x0, 1 ejects, 3 refused ejects$/);
});

test('an eject clears a plug the guest has not read yet (QEMU: the request is complete)', () => {
  const { regs } = setup();
  regs.plug(4);
  regs.requestUnplug(4);
  regs.write(PCIHP_REG.EJECT, 4, 0x10);
  assert.equal(regs.read(PCIHP_REG.UP, 4), 0);
});

test('only hotpluggable slots can be plugged or unplugged', () => {
  const { regs } = setup();
  assert.throws(() => regs.plug(0), /not a hotpluggable slot/);
  assert.throws(() => regs.plug(1), /not a hotpluggable slot/); // QEMU's PIIX3 slot
  assert.throws(() => regs.requestUnplug(32), RangeError);
  assert.throws(() => new PciHotplugRegisters({ slots: [0], onEject: () => {} }), RangeError);
  assert.equal(setup([1]).regs.read(PCIHP_REG.HOTPLUG_ENABLE, 4), 0x2);
  assert.equal(regs.read(PCIHP_REG.HOTPLUG_ENABLE, 4), 0xfffffffc);
});

test('other buses have no slots; narrow accesses read 0 and change nothing; the eject register reads 0', () => {
  const { regs, ejected } = setup();
  regs.plug(2);
  regs.requestUnplug(2);
  assert.equal(regs.read(PCIHP_REG.UP, 2), 0);
  assert.equal(regs.read(PCIHP_REG.EJECT, 4), 0);
  assert.equal(regs.read(PCIHP_REG.ACPI_INDEX, 4), 0);
  regs.write(PCIHP_REG.EJECT, 1, 0x4);
  regs.write(PCIHP_REG.BUS_SELECT, 4, 1);
  assert.equal(regs.read(PCIHP_REG.BUS_SELECT, 4), 1);
  assert.equal(regs.read(PCIHP_REG.UP, 4), 0);
  assert.equal(regs.read(PCIHP_REG.DOWN, 4), 0);
  regs.write(PCIHP_REG.EJECT, 4, 0x4);
  assert.deepEqual(ejected, []);
  regs.write(PCIHP_REG.BUS_SELECT, 4, 0);
  assert.equal(regs.read(PCIHP_REG.UP, 4), 0x4); // not consumed by the reads above
  assert.equal(regs.read(PCIHP_REG.DOWN, 4), 0x4);
});

test('on the PIO bus: the AML\'s DWordAcc accesses at 0xAE00 reach the registers', () => {
  const { regs, ejected } = setup();
  const bus = new IoBus('pio');
  bus.register(PCIHP_IO_BASE, PCIHP_IO_SIZE, regs, 'acpi-pci-hotplug');
  regs.requestUnplug(7);
  assert.equal(bus.read(PCIHP_IO_BASE + PCIHP_REG.DOWN, 4), 0x80);
  bus.write(PCIHP_IO_BASE + PCIHP_REG.EJECT, 4, 0x80);
  assert.deepEqual(ejected, [7]);
});
