/**
 * One QMP connection: greeting, capabilities negotiation, request checks, dispatch through
 * the command table, replies and events, in QEMU 7.2's byte format (qobject.ts) with "\r\n"
 * after each message. Bad input never throws out of here: it becomes an error reply and
 * the session stays usable. Requests are answered strictly in order; a handler that
 * returns a promise holds back the requests behind it (QEMU runs one command at a time).
 */
import { type CommandContext, findCommand, checkArgs } from './commands.js';
import { JsonStream, type JsonLimits, type JsonResult } from './json-stream.js';
import type { MachineControl } from './machine-control.js';
import { QmpError, QMP_TEXT } from './qmp-errors.js';
import { type QDict, type QObject, fromPlain, isQDict, newQDict, qdictOrder, toJson } from './qobject.js';
import { PACKAGE, QEMU_VERSION } from './version.js';
import { runHmpLine } from './hmp.js';
import { wallClockUs } from '../clock.js';

export interface Timestamp { seconds: number; microseconds: number }

export interface QmpSessionOptions {
  machine: MachineControl;
  /** Sends bytes to the client. */
  write(text: string): void;
  limits?: JsonLimits;
  /** Parsed requests held before the session asks its feeder to pause (QEMU: 8). */
  maxQueued?: number;
  /** Called when the session can take input again after being busy. */
  onReady?(): void;
  /** Runs HMP for human-monitor-command; defaults to pmemvm's HMP. */
  runHmp?: CommandContext['runHmp'];
}

export function timestampNow(): Timestamp {
  // Wall-clock time with microseconds, as QEMU's g_get_real_time().
  const us = wallClockUs();
  return { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
}

/** The greeting QEMU sends first. pmemvm offers no capabilities (no out-of-band execution). */
export function greetingText(): string {
  return qmpLine({ QMP: { version: { qemu: { ...QEMU_VERSION }, package: PACKAGE }, capabilities: [] } });
}

/** An event message, as QEMU builds it (event, timestamp, then data if any). */
export function eventText(name: string, data?: Record<string, unknown>, ts: Timestamp = timestampNow()): string {
  const msg: Record<string, unknown> = { event: name, timestamp: { seconds: ts.seconds, microseconds: ts.microseconds } };
  if (data !== undefined) msg['data'] = data;
  return qmpLine(msg);
}

function qmpLine(v: unknown): string {
  return toJson(fromPlain(v)) + '\r\n';
}

function errorReply(e: Pick<QmpError, 'errorClass' | 'desc'>, id: QObject | undefined): string {
  const rsp = newQDict();
  const err = newQDict();
  err['class'] = e.errorClass;
  err['desc'] = e.desc;
  rsp['error'] = err;
  if (id !== undefined) rsp['id'] = id;
  return toJson(rsp) + '\r\n';
}

function returnReply(ret: unknown, id: QObject | undefined): string {
  const rsp = newQDict();
  rsp['return'] = ret === undefined ? newQDict() : fromPlain(ret);
  if (id !== undefined) rsp['id'] = id;
  return toJson(rsp) + '\r\n';
}

/** A thrown value as the QmpError the client sees. */
export function asQmpError(e: unknown): QmpError {
  if (e instanceof QmpError) return e;
  return new QmpError('GenericError', e instanceof Error ? e.message : String(e));
}

export class QmpSession {
  private readonly stream: JsonStream;
  private readonly queue: JsonResult[] = [];
  private negotiatedFlag = false;
  private running = false;
  private closed = false;
  private readonly ctx: CommandContext;

  constructor(private readonly opts: QmpSessionOptions) {
    this.stream = new JsonStream((r) => this.enqueue(r), opts.limits);
    this.ctx = {
      machine: opts.machine,
      runHmp: opts.runHmp ?? ((line, cpu) => runHmpLine(line, { machine: opts.machine, cpuIndex: cpu })),
    };
  }

  /** The first message of the connection. */
  greeting(): string {
    return greetingText();
  }

  get negotiated(): boolean {
    return this.negotiatedFlag;
  }

  /** True while enough requests wait that the feeder should stop reading (bounded memory). */
  get busy(): boolean {
    return this.queue.length >= (this.opts.maxQueued ?? 8);
  }

  feed(data: Uint8Array): void {
    if (this.closed) return;
    this.stream.feed(data);
  }

  /** Sends an event if this session has negotiated capabilities (QEMU sends none before). */
  event(text: string): void {
    if (this.negotiatedFlag && !this.closed) this.opts.write(text);
  }

  /** The client went away: drop what is queued; a running handler finishes unheard. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private enqueue(r: JsonResult): void {
    this.queue.push(r);
    this.pump();
  }

  private pump(): void {
    if (this.running) return;
    while (!this.closed && this.queue.length > 0) {
      const wasBusy = this.busy;
      const item = this.queue.shift()!;
      const pending = this.handle(item);
      if (pending) {
        this.running = true;
        const next = () => {
          this.running = false;
          this.pump();
          if (!this.busy) this.opts.onReady?.();
        };
        void pending.then(next, next);
        return;
      }
      if (wasBusy && !this.busy) this.opts.onReady?.();
    }
  }

  /** Answers one parsed value; returns a promise if the answer comes later. */
  private handle(item: JsonResult): Promise<void> | undefined {
    if ('error' in item) {
      // A plain record, not a QmpError: garbage input is common and stack traces are not free.
      this.opts.write(errorReply({ errorClass: 'GenericError', desc: item.error }, undefined));
      return undefined;
    }
    const req = item.value;
    const id = isQDict(req) && Object.prototype.hasOwnProperty.call(req, 'id') ? req['id'] : undefined;
    let name: string;
    let cmdArgs: QDict | undefined;
    try {
      [name, cmdArgs] = checkRequest(req);
    } catch (e) {
      this.opts.write(errorReply(asQmpError(e), id));
      return undefined;
    }
    if (!this.negotiatedFlag) {
      if (name !== 'qmp_capabilities') {
        // QEMU looks the command up in a table that holds only qmp_capabilities, then
        // rewrites its CommandNotFound into this hint.
        this.opts.write(errorReply(new QmpError('CommandNotFound', QMP_TEXT.needCapabilities), id));
        return undefined;
      }
      try {
        checkArgs(findCommand('qmp_capabilities')!, cmdArgs);
        const enable = cmdArgs?.['enable'];
        if (Array.isArray(enable) && enable.length > 0) throw new QmpError('GenericError', `Capability ${String(enable[0])} not available`); // pmemvm offers none
      } catch (e) {
        this.opts.write(errorReply(asQmpError(e), id));
        return undefined;
      }
      this.negotiatedFlag = true;
      this.opts.write(returnReply(undefined, id));
      return undefined;
    }
    const cmd = findCommand(name);
    if (!cmd) {
      this.opts.write(errorReply(new QmpError('CommandNotFound', QMP_TEXT.commandNotFound(name)), id));
      return undefined;
    }
    let result: unknown;
    try {
      result = cmd.handler(checkArgs(cmd, cmdArgs), this.ctx);
    } catch (e) {
      this.opts.write(errorReply(asQmpError(e), id));
      return undefined;
    }
    const finish = (value: unknown) => {
      if (this.closed) return;
      let reply: string;
      try {
        reply = returnReply(value, id);
      } catch (e) {
        // A reply that is not JSON is a pmemvm bug; the client still gets an answer.
        reply = errorReply(asQmpError(e), id);
      }
      this.opts.write(reply);
    };
    if (result instanceof Promise) {
      return result.then(finish, (e) => { if (!this.closed) this.opts.write(errorReply(asQmpError(e), id)); });
    }
    finish(result);
    return undefined;
  }
}

/** qmp_dispatch_check_obj(): the request's own members, checked in QEMU's (hash) order. */
function checkRequest(req: QObject): [string, QDict | undefined] {
  if (!isQDict(req)) throw new QmpError('GenericError', QMP_TEXT.notObject);
  let hasExecute = false;
  for (const key of qdictOrder(Object.keys(req))) {
    const v = req[key]!;
    if (key === 'execute') {
      if (typeof v !== 'string') throw new QmpError('GenericError', QMP_TEXT.executeNotString);
      hasExecute = true;
    } else if (key === 'arguments') {
      if (!isQDict(v)) throw new QmpError('GenericError', QMP_TEXT.argumentsNotObject);
    } else if (key !== 'id') {
      throw new QmpError('GenericError', QMP_TEXT.memberUnexpected(key));
    }
  }
  if (!hasExecute) throw new QmpError('GenericError', QMP_TEXT.lacksExecute);
  return [req['execute'] as string, req['arguments'] as QDict | undefined];
}

