import { test } from 'node:test';
import assert from 'node:assert/strict';

import { IoBus } from '../../src/devices/bus.js';
import { I8042 } from '../../src/devices/i8042.js';
import { AcpiPower } from '../../src/devices/power.js';
import { CmosRtc, RTC_BASE, fromBcd, toBcd } from '../../src/devices/rtc.js';
import { PostCodePort, POST_CODE_PORT } from '../../src/devices/debug-port.js';
import { attachQuietPorts, SystemControlPortB } from '../../src/devices/legacy.js';

test('i8042: Linux reboot=k (wait for IBF clear, write 0xFE to 0x64) resets', () => {
  let resets = 0;
  const bus = new IoBus();
  new I8042({ onReset: () => resets++ }).attach(bus);
  assert.equal(bus.read(0x64, 1) & 0x02, 0); // input buffer empty
  bus.write(0x64, 1, 0xfe);
  assert.equal(resets, 1);
  bus.write(0x64, 1, 0xff); // pulse nothing
  assert.equal(resets, 1);
});

test('i8042: harmless commands answer sensibly', () => {
  let resets = 0;
  const bus = new IoBus();
  new I8042({ onReset: () => resets++ }).attach(bus);
  assert.equal(bus.read(0x64, 1) & 0x01, 0); // nothing to read
  bus.write(0x64, 1, 0xaa);
  assert.equal(bus.read(0x64, 1) & 0x09, 0x09); // OBF, last write was a command
  assert.equal(bus.read(0x60, 1), 0x55);
  assert.equal(bus.read(0x64, 1) & 0x01, 0);
  bus.write(0x64, 1, 0x20);
  const cb = bus.read(0x60, 1);
  bus.write(0x64, 1, 0x60);
  bus.write(0x60, 1, cb | 0x10);
  bus.write(0x64, 1, 0xae); // enable keyboard clears bit 4
  bus.write(0x64, 1, 0xa7);
  bus.write(0x64, 1, 0x20);
  assert.equal(bus.read(0x60, 1), (cb & ~0x10) | 0x20);
  bus.write(0x64, 1, 0xd3); // aux loopback
  bus.write(0x60, 1, 0x5a);
  assert.equal(bus.read(0x64, 1) & 0x21, 0x21);
  assert.equal(bus.read(0x60, 1), 0x5a);
  bus.write(0x64, 1, 0xd4); // to the (absent) mouse: no answer
  bus.write(0x60, 1, 0xf2);
  assert.equal(bus.read(0x64, 1) & 0x01, 0);
  bus.write(0x64, 1, 0xad);
  bus.write(0x60, 1, 0xff); // keyboard command with no keyboard
  assert.equal(resets, 0);
  bus.write(0x64, 1, 0xd1); // output port write with reset bit low
  bus.write(0x60, 1, 0x02);
  assert.equal(resets, 1);
});

function power() {
  const events: string[] = [];
  const bus = new IoBus();
  const dev = new AcpiPower({
    sleepControlPort: 0x600,
    sleepStatusPort: 0x601,
    resetPort: 0x602,
    resetValue: 0x0f,
    s5SlpTyp: 5,
    onPoweroff: () => events.push('off'),
    onReset: () => events.push('reset'),
    onSleep: (t) => events.push(`sleep${t}`),
  });
  dev.attach(bus);
  return { bus, events };
}

test('power: S5 write powers off; other sleep types wake at once', () => {
  const { bus, events } = power();
  assert.equal(bus.read(0x601, 1) & 0x80, 0);
  bus.write(0x601, 1, 0x80); // Linux clears WAK_STS first
  bus.write(0x600, 1, 5 << 2); // SLP_TYP without SLP_EN: nothing
  assert.deepEqual(events, []);
  bus.write(0x600, 1, (5 << 2) | 0x20);
  assert.deepEqual(events, ['off']);
  bus.write(0x600, 1, (3 << 2) | 0x20);
  assert.deepEqual(events, ['off', 'sleep3']);
  assert.equal(bus.read(0x601, 1), 0x80);
  bus.write(0x601, 1, 0x80);
  assert.equal(bus.read(0x601, 1), 0);
});

test('power: reset register fires only on the reset value', () => {
  const { bus, events } = power();
  bus.write(0x602, 1, 0x01);
  assert.deepEqual(events, []);
  bus.write(0x602, 1, 0x0f);
  assert.deepEqual(events, ['reset']);
});

test('power: bad parameters are rejected', () => {
  const base = { resetValue: 1, onPoweroff: () => {}, onReset: () => {} };
  assert.throws(() => new AcpiPower({ ...base, sleepControlPort: 1, sleepStatusPort: 2, resetPort: 3, s5SlpTyp: 8 }));
  assert.throws(() => new AcpiPower({ ...base, sleepControlPort: 1, sleepStatusPort: 1, resetPort: 3, s5SlpTyp: 5 }));
});

function rtcAt(iso: string) {
  let now = Date.parse(iso);
  const bus = new IoBus();
  bus.register(RTC_BASE, 2, new CmosRtc({ now: () => now }), 'rtc');
  const reg = (i: number) => {
    bus.write(0x70, 1, 0x80 | i); // with NMI disabled, as Linux does
    return bus.read(0x71, 1);
  };
  const set = (i: number, v: number) => {
    bus.write(0x70, 1, i);
    bus.write(0x71, 1, v);
  };
  return { reg, set, advance: (ms: number) => (now += ms) };
}

test('rtc: time reads as BCD with UIP clear and valid RAM/time', () => {
  const { reg } = rtcAt('2024-02-29T23:59:58.500Z'); // a Thursday
  assert.equal(reg(0x00), 0x58);
  assert.equal(reg(0x02), 0x59);
  assert.equal(reg(0x04), 0x23);
  assert.equal(reg(0x06), 0x05); // Sunday = 1
  assert.equal(reg(0x07), 0x29);
  assert.equal(reg(0x08), 0x02);
  assert.equal(reg(0x09), 0x24);
  assert.equal(reg(0x32), 0x20);
  assert.equal(reg(0x0a) & 0x80, 0);
  assert.equal(reg(0x0b), 0x02); // 24-hour, BCD
  assert.equal(reg(0x0d), 0x80);
  assert.equal(reg(0x0c), 0);
});

test('rtc: binary and 12-hour modes, guest writes move the clock', () => {
  const { reg, set, advance } = rtcAt('2024-07-01T13:05:09Z');
  set(0x0b, 0x04); // binary, 12-hour
  assert.equal(reg(0x04), 0x80 | 1);
  assert.equal(reg(0x00), 9);
  set(0x0b, 0x02); // back to BCD 24-hour
  set(0x04, 0x08);
  set(0x09, 0x30);
  assert.equal(reg(0x04), 0x08);
  assert.equal(reg(0x09), 0x30);
  advance(60_000);
  assert.equal(reg(0x02), 0x06);
  assert.equal(reg(0x04), 0x08);
  set(0x40, 0xab); // plain CMOS RAM
  assert.equal(reg(0x40), 0xab);
  assert.equal(toBcd(59), 0x59);
  assert.equal(fromBcd(0x42), 42);
});

/** An RTC with a fake clock and timers: `fire()` moves the clock to the pending timer and runs it. */
function rtcWithTimers(iso: string) {
  let now = Date.parse(iso);
  const irq: boolean[] = [];
  let pending: { fn: () => void; at: number } | null = null;
  const rtc = new CmosRtc({
    now: () => now,
    setIrq: (level) => irq.push(level),
    timers: {
      set: (fn, ms) => (pending = { fn, at: now + ms }),
      clear: (h) => { assert.equal(h, pending); pending = null; },
    },
  });
  const bus = new IoBus();
  bus.register(RTC_BASE, 2, rtc, 'rtc');
  const reg = (i: number) => { bus.write(0x70, 1, i); return bus.read(0x71, 1); };
  const set = (i: number, v: number) => { bus.write(0x70, 1, i); bus.write(0x71, 1, v); };
  const fire = () => {
    assert.ok(pending, 'no timer pending');
    const t = pending;
    pending = null;
    now = t.at;
    t.fn();
  };
  return { rtc, reg, set, fire, irq, pending: () => pending, now: () => now };
}

test('rtc: update-ended interrupts once a second while UIE is set; reading C acknowledges', () => {
  const r = rtcWithTimers('2024-07-01T13:05:09.250Z');
  assert.equal(r.pending(), null, 'no timer while no interrupt is enabled');
  r.set(0x0b, 0x02 | 0x10); // 24-hour, UIE
  assert.equal(r.pending()!.at, Date.parse('2024-07-01T13:05:10.001Z'));
  r.fire();
  assert.deepEqual(r.irq, [true]);
  assert.equal(r.reg(0x00), 0x10, 'the clock has turned to the next second');
  assert.equal(r.reg(0x0c), 0x90, 'IRQF | UF');
  assert.deepEqual(r.irq, [true, false]);
  assert.equal(r.reg(0x0c), 0, 'flags clear on read');
  r.fire();
  assert.deepEqual(r.irq, [true, false, true]);
  r.set(0x0b, 0x02); // UIE off: the timer stops
  assert.equal(r.pending(), null);
  assert.equal(r.reg(0x0c), 0x90);
  assert.deepEqual(r.irq, [true, false, true, false]);
});

test('rtc: the alarm interrupts when seconds, minutes and hours match (0xC0 and up: any value)', () => {
  const r = rtcWithTimers('2024-07-01T13:05:09.600Z');
  r.set(0x01, 0x11); // seconds alarm: 11 (BCD)
  r.set(0x03, 0xff); // any minute
  r.set(0x05, 0x13); // hour 13
  r.set(0x0b, 0x02 | 0x20); // AIE
  r.fire(); // 13:05:10: no match; UF is set but not enabled, so no interrupt
  assert.deepEqual(r.irq, []);
  r.fire(); // 13:05:11
  assert.deepEqual(r.irq, [true]);
  assert.equal(r.reg(0x0c), 0x80 | 0x20 | 0x10, 'IRQF | AF | UF');
  r.set(0x0b, 0x82 | 0x20); // SET: the clock is being written, no interrupts meanwhile
  assert.equal(r.pending(), null);
  r.set(0x0b, 0x02 | 0x20);
  assert.ok(r.pending());
  r.rtc.close(); // the machine ends: no timer, no interrupt after this
  assert.equal(r.pending(), null);
  r.set(0x0b, 0x02 | 0x10);
  assert.equal(r.pending(), null);
});

test('debug port and legacy ports stay quiet', () => {
  const bus = new IoBus();
  const codes: number[] = [];
  const post = new PostCodePort({ onCode: (c) => codes.push(c) });
  bus.register(POST_CODE_PORT, 1, post, 'post');
  bus.register(0x2f8, 8, new PostCodePort(), 'someone else owns COM2');
  bus.register(0x61, 1, new SystemControlPortB(), 'port b');
  attachQuietPorts(bus);
  bus.write(0x80, 1, 0x12);
  assert.equal(bus.read(0x80, 1), 0x12);
  assert.deepEqual(codes, [0x12]);
  assert.equal(bus.read(0x87, 1), 0xff);
  assert.equal(bus.read(0x3e8, 1), 0xff);
  bus.write(0x3c4, 2, 0x0100);
  assert.equal(bus.unmappedReads + bus.unmappedWrites, 0);
  assert.equal(bus.find(0x2f8)?.name, 'someone else owns COM2');
  const a = bus.read(0x61, 1);
  const b = bus.read(0x61, 1);
  assert.equal((a ^ b) & 0x10, 0x10); // refresh toggles
  assert.equal(a & 0xe0, 0x20); // PIT out2 high, no NMI sources
  bus.write(0x61, 1, 0xff);
  assert.equal(bus.read(0x61, 1) & 0x0f, 0x0f);
});
