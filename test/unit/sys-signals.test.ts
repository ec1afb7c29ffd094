// The main thread's signals (sys/libc.ts): the kick and work signals are distinct real-time
// signals; blocked, their instances queue and are taken one by one. A pipe armed with
// signalThreadOnInput signals on every write, read or not (the device I/O ring relies on it
// to empty its kick pipe only now and then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as libc from '../../src/sys/libc.js';

const kick = libc.kickSignal(), work = libc.workSignal();

function withBlocked(fn: () => void): void {
  libc.installKickHandler(kick);
  libc.installKickHandler(work);
  libc.blockSignal(kick);
  libc.blockSignal(work);
  try {
    fn();
  } finally {
    libc.drainSignal(kick);
    libc.drainSignal(work);
    libc.unblockSignal(kick);
    libc.unblockSignal(work);
  }
}

test('signals: blocked kick and work signals queue; takeSignal takes one instance of either per call, then says none', () => {
  assert.notEqual(kick, work);
  withBlocked(() => {
    const self = libc.pthreadSelf();
    assert.equal(libc.takeSignal(kick, work), 0, 'nothing pending');
    libc.pthreadKill(self, work);
    libc.pthreadKill(self, kick);
    libc.pthreadKill(self, work);
    const taken = [libc.takeSignal(kick, work), libc.takeSignal(kick, work), libc.takeSignal(kick, work)];
    assert.deepEqual(taken.sort(), [kick, work, work].sort());
    assert.equal(libc.takeSignal(kick, work), 0, 'all taken');
    libc.pthreadKill(self, work);
    assert.equal(libc.drainSignal(kick), 0, 'a work signal is not a kick');
    assert.equal(libc.drainSignal(work), 1);
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
