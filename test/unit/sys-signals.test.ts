// The main thread's signals (sys/libc.ts): the kick and work signals are distinct real-time
// signals; blocked, their instances queue and are taken one by one. A pipe armed with
// signalThreadOnInput signals on every write, read or not (the device I/O ring relies on it
// to empty its kick pipe only now and then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as libc from '../../src/sys/libc.js';

const kick = libc.kickSignal(), work = libc.workSignal(), tick = libc.timerSignal();
const pair = libc.signalSet(kick, work), three = libc.signalSet(kick, work, tick), timerOnly = libc.signalSet(tick);

function withBlocked(fn: () => void): void {
  for (const s of [kick, work, tick]) { libc.installKickHandler(s); libc.blockSignal(s); }
  try {
    fn();
  } finally {
    for (const s of [kick, work, tick]) { libc.drainSignal(s); libc.unblockSignal(s); }
  }
}

test('signals: blocked kick and work signals queue; takeSignal takes one instance of either per call, then says none', () => {
  assert.notEqual(kick, work);
  withBlocked(() => {
    const self = libc.pthreadSelf();
    assert.equal(libc.takeSignal(pair), 0, 'nothing pending');
    libc.pthreadKill(self, work);
    libc.pthreadKill(self, kick);
    libc.pthreadKill(self, work);
    const taken = [libc.takeSignal(pair), libc.takeSignal(pair), libc.takeSignal(pair)];
    assert.deepEqual(taken.sort(), [kick, work, work].sort());
    assert.equal(libc.takeSignal(pair), 0, 'all taken');
    libc.pthreadKill(self, work);
    assert.equal(libc.drainSignal(kick), 0, 'a work signal is not a kick');
    assert.equal(libc.drainSignal(work), 1);
  });
});

test('signals: the slice timer and monitor input have signals of their own; takeSignal over three takes the lowest pending first, one per call', () => {
  assert.equal(new Set([kick, work, tick, libc.inputSignal()]).size, 4);
  withBlocked(() => {
    const self = libc.pthreadSelf();
    libc.pthreadKill(self, tick);
    libc.pthreadKill(self, work);
    libc.pthreadKill(self, kick);
    assert.deepEqual([1, 2, 3, 4].map(() => libc.takeSignal(three)), [kick, work, tick, 0]);
    libc.pthreadKill(self, tick);
    assert.equal(libc.takeSignal(pair), 0, 'the timer is not in the pair');
    assert.equal(libc.drainSignal(tick), 1);
  });
});

test('signals: a thread timer sends its own signal to its thread; expireIn moves the next expiry, stop ends it', () => {
  withBlocked(() => {
    const timer = libc.threadTimer(tick, 3_600_000);
    try {
      const t0 = performance.now();
      timer.expireIn(5);
      while (libc.takeSignal(timerOnly) === 0) if (performance.now() - t0 > 5000) assert.fail('no expiry within 5 s');
      assert.equal(libc.drainSignal(kick), 0, 'the timer does not kick');
      timer.expireIn(3_600_000);
      const t1 = performance.now();
      while (performance.now() - t1 < 30) { /* the next expiry is an hour away */ }
      assert.equal(libc.drainSignal(tick), 0, 'no expiry after expireIn(1 h)');
    } finally {
      timer.stop();
    }
  });
});

test('signals: a pipe armed with signalThreadOnInput signals its thread on every write, even when earlier bytes were not read', () => {
  withBlocked(() => {
    const [rd, wr] = libc.pipe();
    try {
      libc.signalThreadOnInput(rd, libc.gettid(), work);
      for (let i = 0; i < 5; i++) libc.write(wr, new Uint8Array([i]));
      assert.equal(libc.drainSignal(work), 5);
      assert.equal(libc.read(rd, new Uint8Array(16)), 5);
    } finally {
      libc.close(rd);
      libc.close(wr);
    }
  });
});
