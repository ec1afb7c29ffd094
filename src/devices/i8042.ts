/**
 * Minimal i8042 PS/2 controller at 0x60 (data) / 0x64 (status, command):
 * no keyboard or mouse, no interrupts. It exists so that Linux's
 * `reboot=k` path (wait for IBF clear, write 0xFE to 0x64) resets the VM,
 * and so that a probing driver gets sane answers rather than 0xFF.
 *
 * Command bytes are processed at once, so the input buffer is never full
 * (status bit 1 reads 0) and replies are ready in the output buffer.
 */

import type { AccessSize, BusDevice, IoBus } from './bus.js';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;

// Status register bits.
export const STATUS_OBF = 0x01; // output buffer full (byte for the CPU at 0x60)
export const STATUS_IBF = 0x02; // input buffer full (never, we are instant)
export const STATUS_SYS = 0x04; // system flag: self-test passed
export const STATUS_CMD = 0x08; // last write was to the command port
export const STATUS_UNLOCKED = 0x10; // keyboard not inhibited
export const STATUS_AUX_OBF = 0x20; // output byte came from the aux port

// Command byte bits.
const CB_KBD_DISABLE = 0x10;
const CB_AUX_DISABLE = 0x20;

export interface I8042Options {
  /** The guest pulsed the CPU reset line (command 0xFE, or output port bit 0 cleared). */
  onReset: () => void;
}

export class I8042 {
  /** Reply bytes waiting for the guest; each flagged when it came from aux. */
  private readonly out: { byte: number; aux: boolean }[] = [];
  private lastOut = 0;
  private commandByte = 0x45; // kbd IRQ enable, SYS flag, scancode translation
  private outputPort = 0x03; // bit 0: reset line high (inactive), bit 1: A20 on
  private lastWasCommand = false;
  /** Command waiting for its parameter byte at the data port. */
  private pendingCommand = 0;
  private readonly onReset: () => void;

  /** The data port (0x60) as a bus device. */
  readonly dataPort: BusDevice;
  /** The status/command port (0x64) as a bus device. */
  readonly commandPort: BusDevice;

  constructor(opts: I8042Options) {
    this.onReset = opts.onReset;
    this.dataPort = {
      width: 1,
      read: () => this.readData(),
      write: (_o: number, _s: AccessSize, v: number) => this.writeData(v & 0xff),
    };
    this.commandPort = {
      width: 1,
      read: () => this.status(),
      write: (_o: number, _s: AccessSize, v: number) => this.writeCommand(v & 0xff),
    };
  }

  /** Register 0x60 and 0x64 on the port-I/O bus. */
  attach(bus: IoBus, dataPort = I8042_DATA_PORT, commandPort = I8042_COMMAND_PORT): void {
    bus.register(dataPort, 1, this.dataPort, 'i8042 data');
    bus.register(commandPort, 1, this.commandPort, 'i8042 command');
  }

  status(): number {
    const head = this.out[0];
    return (
      STATUS_SYS |
      STATUS_UNLOCKED |
      (this.lastWasCommand ? STATUS_CMD : 0) |
      (head ? STATUS_OBF | (head.aux ? STATUS_AUX_OBF : 0) : 0)
    );
  }

  private readData(): number {
    const head = this.out.shift();
    if (head) this.lastOut = head.byte;
    return this.lastOut; // an empty buffer keeps returning the last byte
  }

  private reply(byte: number, aux = false): void {
    // The real controller has a one-byte buffer; a short queue is harmless
    // and keeps multi-step probes simple.
    if (this.out.length < 16) this.out.push({ byte, aux });
  }

  private writeCommand(cmd: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = 0;
    if (cmd >= 0xf0) {
      // Pulse output lines low for ~6us; bit 0 clear means the reset line.
      if (!(cmd & 0x01)) this.onReset();
      return;
    }
    switch (cmd) {
      case 0x20: // read command byte
        this.reply(this.commandByte);
        break;
      case 0x60: // write command byte (next data byte)
      case 0xd1: // write output port
      case 0xd2: // write keyboard output buffer (echo as if from keyboard)
      case 0xd3: // write aux output buffer (echo as if from aux)
      case 0xd4: // write to aux device
        this.pendingCommand = cmd;
        break;
      case 0xa7:
        this.commandByte |= CB_AUX_DISABLE;
        break;
      case 0xa8:
        this.commandByte &= ~CB_AUX_DISABLE;
        break;
      case 0xa9: // aux interface test: 0 = ok
      case 0xab: // keyboard interface test: 0 = ok
        this.reply(0x00);
        break;
      case 0xaa: // controller self-test
        this.reply(0x55);
        break;
      case 0xad:
        this.commandByte |= CB_KBD_DISABLE;
        break;
      case 0xae:
        this.commandByte &= ~CB_KBD_DISABLE;
        break;
      case 0xc0: // read input port
        this.reply(0x00);
        break;
      case 0xd0: // read output port
        this.reply(this.outputPort);
        break;
      default:
        break; // unknown commands are ignored
    }
  }

  private writeData(v: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    switch (cmd) {
      case 0x60:
        this.commandByte = v;
        break;
      case 0xd1:
        this.outputPort = v;
        if (!(v & 0x01)) this.onReset(); // reset line driven low
        break;
      case 0xd2:
        this.reply(v);
        break;
      case 0xd3:
        this.reply(v, true);
        break;
      default:
        // 0xD4 or a plain keyboard command: no device is attached, so nothing answers.
        break;
    }
  }
}
