// The monitor's input pump: slices, order, pausing for a busy session or unread replies, and
// the per-turn budget that keeps a flooding client from holding the main thread (vCPU 0's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputPump, type PumpInput, type PumpSession } from '../../src/monitor/input-pump.js';
import { TURN_MS } from '../../src/monitor/turn-budget.js';
import { takeShortSlice } from '../../src/kvm/slice-share.js';

class FakeInput implements PumpInput {
  destroyed = false;
  paused = false;
  pause() { this.paused = true; }
  resume() { this.paused = false; }
  isPaused() { return this.paused; }
}

/** A session that records what it is fed; each feed can take `costMs` of the thread. */
class FakeSession implements PumpSession {
  busy = false;
  fed: Buffer[] = [];
  constructor(private readonly costMs = 0) {}
  feed(d: Uint8Array) {
    this.fed.push(Buffer.from(d));
    const end = performance.now() + this.costMs;
    while (performance.now() < end) { /* the cost of parsing and answering */ }
  }
  text() { return Buffer.concat(this.fed).toString('latin1'); }
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const input = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => String.fromCharCode(0x41 + (i % 26))).join(''), 'latin1');

// Each test starts on a fresh event-loop turn: the budget is per turn and shared by every pump.
// (Assertions never need a cheap slice to finish within the budget: under emulation a
// collection or a compile can take longer than a turn's 4 ms.)
const settle = async (done: () => boolean) => { for (let i = 0; i < 500 && !done(); i++) await turn(); };

test('input goes to the session in slices, in order', async () => {
  await turn();
  const inp = new FakeInput(), s = new FakeSession();
  const pump = new InputPump(inp, s, 1024, () => false);
  const data = input(5000);
  pump.push(data);
  await settle(() => s.text().length === data.length);
  assert.deepEqual(s.fed.map((b) => b.length), [1024, 1024, 1024, 1024, 904]);
  assert.equal(s.text(), data.toString('latin1'));
  assert.equal(inp.paused, false);
});

test('past the turn budget the rest waits, reading paused, until a later turn; nothing is lost or reordered', async () => {
  await turn();
  const inp = new FakeInput(), s = new FakeSession(TURN_MS / 2);
  const pump = new InputPump(inp, s, 1024, () => false);
  const data = input(64 << 10); // 64 slices: 32 budgets' worth
  const before = performance.now();
  pump.push(data);
  const spent = performance.now() - before;
  const firstTurn = s.fed.length;
  assert.ok(firstTurn >= 1 && firstTurn < 8, `fed ${firstTurn} of 64 slices in the first turn`);
  assert.equal(inp.paused, true, 'reading pauses while input waits');
  // vCPU 0's next slice, which runs before the rest, lasts as long as the input took, not a whole slice.
  const short = takeShortSlice();
  assert.ok(short >= TURN_MS && short <= spent + 1, `a slice of ${short} ms after ${spent} ms of input`);
  // More input while it waits is kept behind it.
  pump.push(input(10));
  await settle(() => s.text().length === data.length + 10);
  assert.equal(s.text(), data.toString('latin1') + input(10).toString('latin1'));
  assert.equal(inp.paused, false, 'reading goes on once everything is fed');
});

test('every push feeds at least one slice, even in a turn whose budget another client spent', async () => {
  await turn();
  const a = new FakeSession(TURN_MS * 2), b = new FakeSession();
  const pa = new InputPump(new FakeInput(), a, 1024, () => false);
  const pb = new InputPump(new FakeInput(), b, 1024, () => false);
  pa.push(input(4096)); // spends the whole budget on its first slice
  pb.push(input(2048));
  assert.equal(a.fed.length, 1);
  assert.equal(b.fed.length, 1, 'the second client gets one slice this turn, the rest next turn');
  await settle(() => a.fed.length === 4 && b.fed.length === 2);
  assert.deepEqual([a.fed.length, b.fed.length], [4, 2]);
});

test('a busy session or unread replies pause reading until resume(); close() drops what waits', async () => {
  await turn();
  const inp = new FakeInput(), s = new FakeSession();
  let lag = false;
  const pump = new InputPump(inp, s, 1024, () => lag);
  s.busy = true;
  pump.push(input(3000));
  assert.deepEqual([s.fed.length, inp.paused], [0, true]);
  s.busy = false;
  lag = true;
  pump.resume();
  assert.deepEqual([s.fed.length, inp.paused], [0, true], 'still paused: replies unread');
  lag = false;
  pump.resume();
  await settle(() => s.text().length === 3000);
  assert.deepEqual([s.text(), inp.paused], [input(3000).toString('latin1'), false]);

  const s2 = new FakeSession(TURN_MS * 2), inp2 = new FakeInput();
  const p2 = new InputPump(inp2, s2, 1024, () => false);
  p2.push(input(8192));
  p2.close();
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(s2.fed.length, 1, 'nothing fed after close');
});
