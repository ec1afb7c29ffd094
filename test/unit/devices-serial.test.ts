import { test } from 'node:test';
import assert from 'node:assert/strict';

import { IoBus } from '../../src/devices/bus.js';
import { COM1_BASE, Serial16550, type SerialOptions } from '../../src/devices/serial.js';

const RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function setup(extra: Partial<SerialOptions> = {}) {
  const out: number[] = [];
  const irq: boolean[] = [];
  let drained = 0;
  const uart = new Serial16550({
    output: (b) => out.push(b),
    setIrq: (l) => irq.push(l),
    onRxDrained: () => {
      drained++;
    },
    ...extra,
  });
  const bus = new IoBus('pio');
  bus.register(COM1_BASE, 8, uart, 'com1');
  const r = (off: number) => bus.read(COM1_BASE + off, 1);
  const w = (off: number, v: number) => bus.write(COM1_BASE + off, 1, v);
  return { uart, out, irq, r, w, drained: () => drained };
}

test('serial: reset register values', () => {
  const { r } = setup();
  assert.equal(r(IER), 0x00);
  assert.equal(r(IIR), 0x01);
  assert.equal(r(LCR), 0x00);
  assert.equal(r(MCR), 0x00);
  assert.equal(r(LSR), 0x60); // THRE | TEMT
  assert.equal(r(MSR), 0xb0); // CTS | DSR | DCD, no deltas
  assert.equal(r(SCR), 0x00);
});

test('serial: Linux 8250 autoconfig detects a 16550A', () => {
  const { r, w, irq } = setup();
  // IER probe: the low nibble is read/write, nothing else sticks.
  const saved = r(IER);
  w(IER, 0);
  assert.equal(r(IER) & 0x0f, 0);
  w(IER, 0x0f);
  assert.equal(r(IER) & 0x0f, 0x0f);
  w(IER, saved);
  // Scratch register.
  w(SCR, 0xa5);
  assert.equal(r(SCR), 0xa5);
  w(SCR, 0x5a);
  assert.equal(r(SCR), 0x5a);
  // Loopback: MCR = LOOP | OUT2 | RTS must read back MSR = DCD | CTS.
  const saveMcr = r(MCR);
  w(MCR, 0x10 | 0x0a);
  assert.equal(r(MSR) & 0xf0, 0x90);
  w(MCR, 0x10 | 0x05); // DTR -> DSR, OUT1 -> RI
  assert.equal(r(MSR) & 0xf0, 0x60);
  w(MCR, saveMcr);
  // FIFO detection: no EFR, then IIR bits 7:6 = 0b11.
  w(LCR, 0xbf);
  w(2, 0); // "EFR" write lands in FCR on a 16550A
  w(LCR, 0);
  w(FCR, 0x01);
  assert.equal(r(IIR) >> 6, 3);
  // autoconfig_16550a: reading "EFR" under LCR 0xBF / 0x80 gives IIR, not 0.
  w(LCR, 0xbf);
  assert.notEqual(r(2), 0);
  w(LCR, 0x80);
  assert.notEqual(r(2), 0);
  // 16750 check: IIR bit 5 (64-byte FIFO) never sets.
  w(FCR, 0x01 | 0x20);
  const status1 = r(IIR) >> 5;
  w(FCR, 0x01);
  w(LCR, 0);
  w(FCR, 0x01 | 0x20);
  const status2 = r(IIR) >> 5;
  assert.equal(status1, 6);
  assert.equal(status2, 6);
  // XScale check: IER bit 6 (UUE) does not stick.
  w(IER, 0x40);
  assert.equal(r(IER) & 0x40, 0);
  w(IER, 0);
  assert.deepEqual(irq, []);
});

test('serial: THRE interrupt rises on IER.THRI, clears on IIR read, re-rises on re-enable', () => {
  const { r, w, irq } = setup();
  w(MCR, 0x08); // OUT2
  w(IER, 0x02);
  assert.deepEqual(irq, [true]);
  assert.equal(r(IIR), 0x02); // reports and acknowledges THRE
  assert.deepEqual(irq, [true, false]);
  assert.equal(r(IIR), 0x01);
  // Linux's startup THRE test: toggle IER and expect THRE back.
  w(IER, 0);
  w(IER, 0x02);
  assert.deepEqual(irq, [true, false, true]);
  assert.equal(r(IIR), 0x02);
  w(IER, 0);
  assert.deepEqual(irq, [true, false, true, false]);
});

test('serial: THR write transmits and re-arms THRE after the instant transmit', () => {
  const { r, w, irq, out } = setup();
  w(MCR, 0x08);
  w(IER, 0x02);
  r(IIR); // ack
  assert.deepEqual(irq, [true, false]);
  w(THR, 0x41);
  assert.deepEqual(out, [0x41]);
  assert.deepEqual(irq, [true, false, true]); // fresh edge for the next batch
  assert.equal(r(LSR) & 0x60, 0x60);
  // Writes while THRE is still pending do not toggle the line.
  w(THR, 0x42);
  w(THR, 0x43);
  assert.deepEqual(out, [0x41, 0x42, 0x43]);
  assert.deepEqual(irq, [true, false, true]);
  assert.equal(r(IIR), 0x02);
});

test('serial: RX data sets LSR.DR and raises the RX interrupt (timeout below trigger)', () => {
  const { uart, r, w, irq } = setup();
  w(FCR, 0x81); // FIFO on, trigger 8
  w(MCR, 0x08);
  w(IER, 0x01);
  assert.deepEqual(irq, []);
  assert.equal(uart.receive(Uint8Array.of(0x61, 0x62, 0x63)), 3);
  assert.deepEqual(irq, [true]);
  assert.equal(r(LSR) & 0x01, 0x01);
  assert.equal(r(IIR), 0xcc); // character timeout: fewer than 8 bytes
  assert.equal(r(RBR), 0x61);
  assert.equal(r(RBR), 0x62);
  assert.equal(r(RBR), 0x63);
  assert.deepEqual(irq, [true, false]);
  assert.equal(r(LSR) & 0x01, 0);
  assert.equal(r(IIR), 0xc1);
  uart.receive(new Uint8Array(10).fill(0x7a));
  assert.equal(r(IIR), 0xc4); // at/above trigger: RX data available
});

test('serial: IIR priority is line status > RX > THRE > modem status', () => {
  const { uart, r, w } = setup();
  // Overrun via loopback with FIFOs off (a one-byte receiver).
  w(MCR, 0x10);
  w(THR, 0x11);
  w(THR, 0x22); // no room: OE
  w(MCR, 0x08); // leave loopback: modem lines change -> MSR deltas
  w(IER, 0x0f); // THRI enabled with THR empty -> THRE pending
  assert.equal(r(IIR), 0x06);
  assert.equal(r(LSR), 0x63); // DR | OE | THRE | TEMT; reading clears OE
  assert.equal(r(LSR), 0x61);
  assert.equal(r(IIR), 0x04);
  assert.equal(r(RBR), 0x11);
  assert.equal(r(IIR), 0x02);
  assert.equal(r(IIR), 0x00);
  assert.equal(r(MSR), 0xb0 | 0x0b); // DCTS | DDSR | DDCD: loopback had them all low
  assert.equal(r(IIR), 0x01);
  assert.equal(uart.irqLevel, false);
});

test('serial: a new source while the line is high pulses it for a fresh edge', () => {
  const { uart, r, w, irq } = setup();
  w(FCR, 0x01);
  w(MCR, 0x08);
  w(IER, 0x03); // RDI | THRI: THRE pending at once
  assert.deepEqual(irq, [true]);
  uart.receive(Uint8Array.of(1));
  assert.deepEqual(irq, [true, false, true]); // RX is new: pulse
  uart.receive(Uint8Array.of(2));
  assert.deepEqual(irq, [true, false, true]); // RX already pending: nothing
  assert.equal(r(IIR), 0xc4); // trigger level 1
  r(RBR);
  r(RBR);
  assert.equal(r(IIR), 0xc2);
  assert.deepEqual(irq, [true, false, true, false]);
});

test('serial: MCR.OUT2 gates the line, loopback disconnects it', () => {
  const { r, w, irq, uart } = setup();
  w(IER, 0x02);
  assert.equal(r(IIR) & 0x0f, 0x02); // pending (and now acknowledged) but not wired
  w(IER, 0);
  w(IER, 0x02);
  assert.deepEqual(irq, []);
  w(MCR, 0x08);
  assert.deepEqual(irq, [true]);
  w(MCR, 0x18);
  assert.deepEqual(irq, [true, false]);
  w(MCR, 0x08);
  assert.deepEqual(irq, [true, false, true]);
  assert.equal(uart.irqLevel, true);
});

test('serial: input backpressure loses no byte when more than the FIFO is offered', () => {
  const input = Uint8Array.from({ length: 100 }, (_, i) => i);
  let pending = input;
  const ref: { uart?: Serial16550 } = {};
  const feed = () => {
    const n = ref.uart!.receive(pending);
    pending = pending.subarray(n);
  };
  const { uart, r, w } = setup({ onRxDrained: feed });
  ref.uart = uart;
  // FIFOs off: a single byte fits.
  assert.equal(uart.rxSpace(), 1);
  feed();
  assert.equal(pending.length, 99);
  assert.equal(uart.canReceive(), false);
  assert.equal(r(RBR), 0); // drained -> refilled by the callback
  assert.equal(pending.length, 98);
  // Enabling FIFOs resets them (byte 1 is dropped by the guest's own
  // choice, as on hardware); the drain callback refills 16 at once.
  w(FCR, 0x01);
  assert.equal(pending.length, 98 - 16);
  assert.equal(uart.rxSpace(), 0);
  const got: number[] = [];
  while (r(LSR) & 0x01) got.push(r(RBR));
  assert.deepEqual(got, [...input.subarray(2)]);
  assert.equal(pending.length, 0);
  assert.equal(uart.rxSpace(), 16);
});

test('serial: FCR RX clear discards data and reports the drain', () => {
  const { uart, r, w, drained } = setup();
  w(FCR, 0x01);
  uart.receive(Uint8Array.of(1, 2, 3));
  w(FCR, 0x03);
  assert.equal(r(LSR) & 0x01, 0);
  assert.equal(drained(), 1);
  assert.equal(uart.rxSpace(), 16);
});

test('serial: divisor latch behind LCR.DLAB', () => {
  const { uart, r, w, out } = setup();
  assert.equal(uart.divisor, 12);
  w(IER, 0x05);
  w(LCR, 0x83); // DLAB, 8N1
  w(DLL, 0x01);
  w(DLM, 0x00);
  assert.equal(r(DLL), 0x01);
  assert.equal(r(DLM), 0x00);
  assert.equal(uart.divisor, 1);
  assert.equal(uart.baud, 115200);
  assert.deepEqual(out, []); // DLL writes are not transmitted
  w(LCR, 0x03);
  assert.equal(r(LCR), 0x03);
  assert.equal(r(IER), 0x05); // IER unaffected by the DLM write
  w(THR, 0x55);
  assert.deepEqual(out, [0x55]);
  w(LCR, 0x83);
  w(DLL, 0x0c);
  w(LCR, 0x03);
  assert.equal(uart.baud, 9600);
});

test('serial: loopback sends THR to our own receiver, not to output', () => {
  const { uart, r, w, out } = setup();
  w(FCR, 0x01);
  w(MCR, 0x10);
  for (let i = 0; i < 17; i++) w(THR, i);
  assert.deepEqual(out, []);
  assert.equal(r(LSR), 0x63); // DR | OE | THRE | TEMT: the 17th byte overran
  assert.equal(uart.rxSpace(), 0);
  const got: number[] = [];
  while (r(LSR) & 0x01) got.push(r(RBR));
  assert.deepEqual(got, Array.from({ length: 16 }, (_, i) => i));
});

test('serial: MSR delta bits and the modem status interrupt', () => {
  const { uart, r, w, irq } = setup();
  w(MCR, 0x08);
  w(IER, 0x08);
  uart.setModemInputs(0x30); // DCD drops
  assert.deepEqual(irq, [true]);
  assert.equal(r(IIR), 0x00);
  assert.equal(r(MSR), 0x38); // CTS | DSR | DDCD
  assert.equal(r(MSR), 0x30);
  assert.deepEqual(irq, [true, false]);
  uart.setModemInputs(0x70); // RI rises: no delta (trailing edge only)
  assert.equal(r(MSR), 0x70);
  uart.setModemInputs(0x30); // RI falls: TERI
  assert.equal(r(MSR), 0x34);
});

test('serial: a break is a 0 byte with LSR.BI at the top of the FIFO, a line-status interrupt, in order with the bytes around it', () => {
  const { uart, r, w, irq } = setup();
  w(FCR, 0x01); // FIFOs on
  w(MCR, 0x08); // OUT2
  w(IER, 0x05); // RDI | RLSI, as Linux's 8250 driver sets
  assert.equal(uart.receive(new Uint8Array([0x61])), 1);
  assert.equal(uart.receiveBreak(), true);
  assert.equal(uart.receive(new Uint8Array([0x74])), 1);
  assert.equal(irq.at(-1), true);
  // 'a' first: data ready, no break yet.
  assert.equal(r(LSR) & 0x11, 0x01);
  assert.equal(r(RBR), 0x61);
  // The break at the top: BI with DR, reported as a line-status interrupt (the highest priority).
  assert.equal(r(IIR) & 0x0f, 0x06);
  assert.equal(r(LSR) & 0x11, 0x11);
  // LSR read clears BI; the byte itself is a 0.
  assert.equal(r(LSR) & 0x11, 0x01);
  assert.equal(r(RBR), 0x00);
  assert.equal(r(LSR) & 0x11, 0x01);
  assert.equal(r(RBR), 0x74);
  assert.equal(r(LSR) & 0x11, 0x00);
  assert.equal(r(IIR) & 0x0f, 0x01);
});

test('serial: a break waits for room in the FIFO', () => {
  const { uart, r } = setup();
  // 16450 mode: one byte of FIFO.
  assert.equal(uart.receive(new Uint8Array([0x41])), 1);
  assert.equal(uart.receiveBreak(), false);
  assert.equal(r(RBR), 0x41);
  assert.equal(uart.receiveBreak(), true);
  assert.equal(r(LSR) & 0x10, 0x10);
});
