// pmemvm boots a kernel and initramfs it did not build: Debian 12's netboot installer
// (text frontend, from Debian's own package; guest/fetch-installer.sh), to its first dialog.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { runGuest } from '../lib/guest.js';

test('boots the Debian installer (its own kernel and initramfs) to its first dialog on the serial console', async () => {
  const dir = join(process.env.PMEMVM_CACHE || join(homedir(), '.cache', 'pmemvm'), 'debian-installer');
  assert.ok(existsSync(join(dir, '.done')), `${dir} is missing: run guest/fetch-installer.sh (npm test does)`);
  const d = realpathSync(dir);
  const r = await runGuest({
    vmm: 'pmemvm',
    args: ['-m', '512M', '-kernel', join(d, 'linux'), '-initrd', join(d, 'initrd.gz'), '-append', 'console=ttyS0 quiet', '-nographic'],
    until: /\[!!\]/, // d-i's dialog title marker: its debconf frontend is up and drawing on ttyS0
    timeoutMs: 240_000,
  });
  assert.match(r.output, /Starting system log daemon/, r.output.slice(-3000));
  // The same pattern as `until`: the run ends as soon as it matches, and a byte after it may never come.
  assert.match(r.output, /\[!!\]/, `no installer dialog within the time limit:\n${r.output.slice(-3000)}`);
  assert.doesNotMatch(r.output, /Kernel panic|pmemvm: guest stopped/);
});
