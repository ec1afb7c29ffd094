import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openConsole } from '../../src/machine/console.js';

test('console: breaks reach the UART when it has room; breaks with nothing between them are one (a monitor cannot pile them up)', () => {
  const con = openConsole({ kind: 'null' });
  let room = false;
  const got: string[] = [];
  con.attachInput((bytes) => { got.push(...[...bytes].map((b) => String.fromCharCode(b))); return bytes.length; }, () => {
    if (room) got.push('BREAK');
    return room;
  });
  for (let i = 0; i < 10_000; i++) con.sendBreak();
  assert.deepEqual(got, []);
  room = true;
  con.pump();
  assert.deepEqual(got, ['BREAK']);
  con.sendBreak();
  assert.deepEqual(got, ['BREAK', 'BREAK']);
  con.close();
});
