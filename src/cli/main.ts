/**
 * pmemvm's command line: QEMU syntax in, a running guest out. User mistakes
 * end here as one line `pmemvm: <what is wrong and how to fix it>`, exit 1.
 */
import { writeFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { parseArgs, HELP_TEXT, VERSION_TEXT, type VmOptions } from './options.js';
import { validateOptions } from './validate.js';
import { sizeToNumber } from './size.js';
import { hardwareVirtProblem, TEST_HOST_HINT } from '../kvm/system.js';
import { runMachine } from '../machine/run.js';
import type { ConsoleSpec } from '../machine/console.js';

function consoleFrom(o: VmOptions): ConsoleSpec {
  const s = o.serials[0];
  if (!s) return { kind: 'stdio', muxEscape: false }; // no display: the console is the terminal
  switch (s.kind) {
    case 'stdio': return { kind: 'stdio', muxEscape: s.withMonitor };
    case 'file': return { kind: 'file', path: s.path };
    case 'null': case 'none': return { kind: 'null' };
    case 'chardev': throw new UserError(`-serial chardev:${s.id}: chardev-backed serial ports are not supported yet; use -serial stdio or -serial file:PATH`);
  }
}

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  if (o.action === 'help') { process.stdout.write(HELP_TEXT + '\n'); return 0; }
  if (o.action === 'version') { process.stdout.write(VERSION_TEXT + '\n'); return 0; }
  validateOptions(o);
  if (!o.kernel) {
    throw new UserError('no -kernel given: pmemvm has no BIOS and boots Linux directly; use -kernel bzImage (or vmlinux) [-initrd FILE] [-append CMDLINE]');
  }
  if (o.devices.length > 0) {
    throw new UserError(`-device ${o.devices[0].driver}: persistent-memory devices are not available in this build yet`);
  }
  const problem = hardwareVirtProblem();
  if (problem && process.env.PMEMVM_ALLOW_SLOW_KVM !== '1') {
    throw new UserError(`${problem}, so a guest would crawl; ${TEST_HOST_HINT} (or set PMEMVM_ALLOW_SLOW_KVM=1 to try anyway)`);
  }
  if (o.pidfile) writeFileSync(o.pidfile, `${process.pid}\n`);
  return runMachine({
    machine: {
      ramSize: sizeToNumber(o.memory.size, '-m'),
      cpus: o.smp.cpus,
      kernel: o.kernel,
      initrd: o.initrd,
      cmdline: o.append ?? '',
      cpuModel: o.cpu === undefined ? 'default' : 'host',
    },
    console: consoleFrom(o),
    noReboot: o.noReboot,
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UserError) {
    process.stderr.write(`pmemvm: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
