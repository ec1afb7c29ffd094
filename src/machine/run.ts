/**
 * Power the machine on, and again after each guest reboot, until it powers
 * off or fails. Returns the process exit code.
 */
import { KvmSystem } from '../kvm/system.js';
import { openConsole, ConsoleSpec } from './console.js';
import { MachineConfig, PcMachine } from './pc.js';

export interface RunOptions {
  machine: MachineConfig;
  console: ConsoleSpec;
  noReboot: boolean;
  /** Called with each machine once it is built (tests, monitor). */
  onBoot?: (m: PcMachine) => void;
}

export async function runMachine(o: RunOptions): Promise<number> {
  const kvm = new KvmSystem();
  const console = openConsole(o.console);
  let current: PcMachine | null = null;
  let quitting = false;
  const quit = (why: string) => {
    if (quitting) return;
    quitting = true;
    if (why) process.stderr.write(`pmemvm: ${why}\n`);
    current?.end({ kind: 'poweroff' });
  };
  console.onQuit = () => quit('');
  const onSignal = (sig: NodeJS.Signals) => quit(`terminating on signal ${sig}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    for (;;) {
      current = new PcMachine(kvm, o.machine, console);
      o.onBoot?.(current);
      const exit = await current.run();
      current.destroy();
      current = null;
      if (exit.kind === 'error') {
        process.stderr.write(`pmemvm: guest stopped: ${exit.message}\n`);
        return 1;
      }
      if (exit.kind === 'poweroff' || quitting || o.noReboot) return 0;
      // reset: build a fresh machine (RAM, devices, vCPUs) and boot again
    }
  } finally {
    console.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}
