/**
 * One pmemvm run: power the machine on, and again after each guest reboot or
 * system_reset, until it powers off, fails or is told to quit. The runner
 * owns the run state the monitor reports (QEMU's RunState) and emits QEMU's
 * lifecycle events (STOP, RESUME, RESET, SHUTDOWN, POWERDOWN).
 */
import { KvmSystem } from '../kvm/system.js';
import type { GuestConsole } from './console.js';
import { MachineConfig, PcMachine, type ShutdownCause } from './pc.js';
import type { RunState } from '../monitor/machine-control.js';
import { QmpError } from '../monitor/qmp-errors.js';

export type EmitEvent = (event: string, data?: Record<string, unknown>) => void;

export interface RunOptions {
  machine: MachineConfig;
  console: GuestConsole;
  /** -no-reboot: a guest reboot ends pmemvm. */
  noReboot: boolean;
  /** -no-shutdown: a guest poweroff stops the VM in the 'shutdown' state instead of ending pmemvm. */
  noShutdown?: boolean;
  /** -S: build the machine but start its vCPUs only at 'cont'. */
  startPaused?: boolean;
  /** QMP events (the monitor adds the timestamp). */
  emit?: EmitEvent;
  /** Called with each machine once it is built (tests, monitor). */
  onBoot?: (m: PcMachine) => void;
}

export class MachineRunner {
  private runState: RunState;
  private current: PcMachine | null = null;
  /** Set by quit(): the next machine end ends the run. */
  private quitCause: ShutdownCause | null = null;
  /** Wakes a run waiting in the 'shutdown' state (-no-shutdown) for system_reset or quit. */
  private wakeShutdown: (() => void) | null = null;
  private readonly emit: EmitEvent;
  private quitNow!: () => void;
  /** Resolves once quit() is called: a quit while wait=on waits for its client ends pmemvm without a boot. */
  readonly quitRequested = new Promise<void>((r) => { this.quitNow = r; });

  constructor(private readonly o: RunOptions, private readonly kvm: KvmSystem = new KvmSystem()) {
    this.runState = o.startPaused ? 'prelaunch' : 'running';
    this.emit = o.emit ?? (() => {});
  }

  /** run() has started the first boot (before it, wait=on monitors may still wait for their clients). */
  private launched = false;
  /** QEMU's RunState; 'prelaunch' until the first boot, as with -S, while nothing runs yet. */
  get state(): RunState { return !this.launched && this.runState === 'running' ? 'prelaunch' : this.runState; }
  /** The machine of the current boot, if one is built. */
  get machine(): PcMachine | null { return this.current; }

  /** Returns the process exit code. */
  async run(): Promise<number> {
    if (this.quitCause) return 0; // told to quit before the first boot (waiting for a wait=on client)
    this.launched = true;
    for (;;) {
      const m = this.current = new PcMachine(this.kvm, this.o.machine, this.o.console);
      this.o.onBoot?.(m);
      const exit = await m.run({ paused: this.runState !== 'running' });
      m.destroy();
      this.current = null;
      if (exit.kind === 'error') {
        this.runState = 'internal-error';
        process.stderr.write(`pmemvm: guest stopped: ${exit.message}\n`);
        return 1;
      }
      if (this.quitCause) return 0; // quit() told the clients already
      const guest = exit.cause === 'guest-shutdown' || exit.cause === 'guest-reset';
      if (exit.kind === 'reset' && !(guest && this.o.noReboot)) {
        this.emit('RESET', { guest, reason: exit.cause });
        // QEMU: a VM reset while not running comes back in 'prelaunch' and waits for 'cont'.
        if (this.runState !== 'running') this.runState = 'prelaunch';
        continue;
      }
      // A poweroff, or a guest reboot under -no-reboot.
      this.emit('SHUTDOWN', { guest, reason: exit.cause });
      if (!this.o.noShutdown) return 0;
      this.runState = 'shutdown';
      this.emit('STOP');
      await new Promise<void>((res) => { this.wakeShutdown = res; });
      this.wakeShutdown = null;
      if (this.quitCause) return 0;
      this.emit('RESET', { guest: false, reason: 'host-qmp-system-reset' });
      this.runState = 'prelaunch';
    }
  }

  /** 'stop': pause every vCPU. Nothing to do unless running (QEMU sends no event then either). */
  async stop(): Promise<void> {
    if (this.runState !== 'running') return;
    this.runState = 'paused';
    await this.current?.pause();
    this.emit('STOP');
  }

  /** 'cont'. QEMU refuses it after a guest shutdown until a reset, and answers STOP then RESUME when already running. */
  cont(): void {
    if (this.runState === 'shutdown' || this.runState === 'internal-error') throw new QmpError('GenericError', 'Resetting the Virtual Machine is required');
    if (this.runState === 'running') {
      this.emit('STOP');
      this.emit('RESUME');
      return;
    }
    this.runState = 'running';
    this.current?.resume();
    this.emit('RESUME');
  }

  /** 'system_reset': the guest reboots at once (its state is lost, as on a reset button). */
  reset(): void {
    // From 'shutdown' the next boot starts here; its RESET follows the reply, as in QEMU.
    if (this.runState === 'shutdown') { setImmediate(() => this.wakeShutdown?.()); return; }
    this.current?.end({ kind: 'reset', cause: 'host-qmp-system-reset' });
  }

  /** 'system_powerdown': press the ACPI power button; the guest decides what to do. As in QEMU, the press (and POWERDOWN) follow the reply. */
  powerdown(): void {
    setImmediate(() => {
      try { this.current?.powerButton(); } catch { /* the machine is going away: nobody to press for */ }
      this.emit('POWERDOWN');
    });
  }

  /**
   * 'quit', a signal, or Ctrl-A x: end the run now (backends are closed cleanly by
   * the caller). SHUTDOWN goes out at once: QEMU's clients see it before quit's reply.
   */
  quit(cause: ShutdownCause): void {
    if (this.quitCause) return;
    this.quitCause = cause;
    this.quitNow();
    this.emit('SHUTDOWN', { guest: false, reason: cause });
    this.current?.end({ kind: 'poweroff', cause });
    this.wakeShutdown?.();
  }
}

/**
 * The process's signals, hooked to the runner until the returned function unhooks them:
 * SIGINT, SIGTERM and SIGHUP end the run (as QEMU does), SIGUSR1 prints where the guest
 * is and goes on. Hooked before anything can be told that pmemvm is up (a monitor's
 * socket, its warning line), so that a signal then still ends it cleanly.
 */
export function hookSignals(o: RunOptions, runner: MachineRunner): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`pmemvm: terminating on signal ${sig}\n`);
    runner.quit('host-signal');
  };
  o.console.onQuit = () => runner.quit('host-ui');
  // SIGUSR1: say where the guest is (every vCPU, the interrupt controller, the devices), and go on.
  const onDump = () => {
    void runner.machine?.describe().then((lines) => process.stderr.write(lines.map((l) => `pmemvm: state: ${l}\n`).join('')));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('SIGUSR1', onDump);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('SIGUSR1', onDump);
  };
}

/**
 * The run: the first boot waits for `ready` (every wait=on monitor has its client); a
 * signal or quit meanwhile ends the run with no boot, the monitors' sockets removed by
 * the caller as after any run. The caller has hooked the signals (hookSignals).
 */
export async function runMachine(runner: MachineRunner, ready: Promise<void> = Promise.resolve()): Promise<number> {
  await Promise.race([ready, runner.quitRequested]);
  return runner.run();
}
