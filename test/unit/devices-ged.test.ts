// The Generic Event Device's register on the MMIO bus: trigger() sets ESEL bits and
// pulses the line; the guest's 4-byte read returns ESEL and clears it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../src/devices/bus.js';
import { GenericEventDevice } from '../../src/devices/ged.js';
import { GED_EVENT, GED_MMIO_BASE, GED_MMIO_SIZE, gedEventMask, nvdimmHotplugEvent, powerDownEvent } from '../../src/acpi/ged.js';

function setup(supported = gedEventMask([powerDownEvent])) {
  const irq: boolean[] = [];
  const ged = new GenericEventDevice({ supported, setIrq: (l) => irq.push(l) });
  const bus = new IoBus('mmio');
  bus.register(GED_MMIO_BASE, GED_MMIO_SIZE, ged, 'acpi-ged');
  const esel = () => bus.read(GED_MMIO_BASE, 4);
  return { ged, bus, irq, esel };
}

test('GED: ESEL reads 0 and no interrupt before any event', () => {
  const { esel, irq, ged } = setup();
  assert.equal(esel(), 0);
  assert.deepEqual(irq, []);
  assert.equal(ged.pending, 0);
});

test('GED: the power button sets bit 1 and pulses the line (rising, then falling edge)', () => {
  const { ged, esel, irq } = setup();
  ged.trigger(GED_EVENT.POWER_DOWN);
  assert.deepEqual(irq, [true, false]);
  assert.equal(ged.pending, 0x2);
  assert.equal(esel(), 0x2);
  assert.equal(esel(), 0, 'the read cleared ESEL');
  assert.deepEqual(irq, [true, false], 'reading does not touch the line');
});

test('GED: events raised before the guest reads accumulate; each raise is a fresh edge', () => {
  const { ged, esel, irq } = setup(gedEventMask([powerDownEvent, nvdimmHotplugEvent]));
  ged.trigger(GED_EVENT.POWER_DOWN);
  ged.trigger(GED_EVENT.NVDIMM_HOTPLUG);
  ged.trigger(GED_EVENT.POWER_DOWN);
  assert.deepEqual(irq, [true, false, true, false, true, false]);
  assert.equal(esel(), 0x6);
  assert.equal(esel(), 0);
  ged.trigger(GED_EVENT.POWER_DOWN | GED_EVENT.NVDIMM_HOTPLUG);
  assert.equal(esel(), 0x6);
});

test('GED: an event the guest AML has no handler for is refused, and nothing changes', () => {
  const { ged, irq } = setup();
  assert.throws(() => ged.trigger(GED_EVENT.MEMORY_HOTPLUG), /no handler/);
  assert.throws(() => ged.trigger(GED_EVENT.POWER_DOWN | GED_EVENT.NVDIMM_HOTPLUG), /no handler/);
  assert.throws(() => ged.trigger(0), RangeError);
  assert.throws(() => ged.trigger(-1), RangeError);
  assert.throws(() => ged.trigger(1.5), RangeError);
  assert.deepEqual(irq, []);
  assert.equal(ged.pending, 0);
});

test('GED: only a 4-byte read at offset 0 reads and clears; other accesses have no effect', () => {
  const { ged, bus, esel } = setup();
  ged.trigger(GED_EVENT.POWER_DOWN);
  assert.equal(bus.read(GED_MMIO_BASE, 1), 0);
  assert.equal(bus.read(GED_MMIO_BASE, 2), 0);
  assert.equal(bus.read(GED_MMIO_BASE + 2, 2), 0);
  bus.write(GED_MMIO_BASE, 4, 0);
  bus.write(GED_MMIO_BASE, 4, 0xffffffff);
  assert.equal(ged.pending, 0x2, 'still pending after partial reads and writes');
  assert.equal(esel(), 0x2);
  assert.equal(bus.read(GED_MMIO_BASE + GED_MMIO_SIZE, 4), 0xffffffff, 'nothing mapped after ESEL');
});

test('GED: describe() counts triggers and reads', () => {
  const { ged, esel } = setup();
  ged.trigger(GED_EVENT.POWER_DOWN);
  assert.equal(ged.describe(), 'pending 0x2, 1 triggers, 0 ESEL reads');
  esel();
  assert.equal(ged.describe(), 'pending 0x0, 1 triggers, 1 ESEL reads');
});
