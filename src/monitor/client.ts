/**
 * A small typed QMP client for Node programs (and pmemvm's own tests):
 *
 *   const qmp = await QmpClient.connect('/tmp/qmp.sock');   // or { host, port }
 *   const { status } = await qmp.execute('query-status');     // typed: QmpCommandMap (qmp-types.ts)
 *   for await (const ev of qmp.events()) ...
 *   await qmp.close();
 *
 * It reads the greeting, negotiates capabilities, tags each command with an id and
 * matches replies by it. A failed command rejects with QmpCommandError (class, desc).
 * Replies are parsed by pmemvm's QMP lexer, so integers beyond 2^53 arrive as bigint.
 */
import net from 'node:net';
import { JsonStream } from './json-stream.js';
import { fromPlain, isQDict, toJson, toPlain, type QObject } from './qobject.js';
import type { QmpCommandMap, QmpCommandName } from './qmp-types.js';

export type * from './qmp-types.js';

export class QmpCommandError extends Error {
  override name = 'QmpCommandError';
  constructor(readonly errorClass: string, readonly desc: string, readonly command: string) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

export type QmpTarget = string | { path: string } | { host: string; port: number };

interface Pending { resolve(v: unknown): void; reject(e: Error): void; command: string }

/** Events kept for a reader that has not asked for them yet. */
const MAX_BUFFERED_EVENTS = 1000;

export class QmpClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private readonly closedWaiters: (() => void)[] = [];
  private closedError: Error | undefined;
  greeting!: QmpGreeting;

  private constructor(private readonly sock: net.Socket) {}

  /** Connects, reads the greeting and (unless negotiate is false) runs qmp_capabilities. */
  static async connect(target: QmpTarget, opts: { negotiate?: boolean; timeoutMs?: number } = {}): Promise<QmpClient> {
    const addr = typeof target === 'string' ? { path: target } : target;
    const sock = net.connect(addr as net.NetConnectOpts);
    const client = new QmpClient(sock);
    const greeting = new Promise<QmpGreeting>((resolve, reject) => {
      let first = true;
      const stream = new JsonStream((r) => {
        if ('error' in r) { client.fail(new Error(`QMP: unparsable message: ${r.error}`)); return; }
        const msg = toPlain(r.value) as Record<string, unknown>;
        if (first) {
          first = false;
          if (!isQDict(r.value) || !('QMP' in msg)) { reject(new Error('QMP: no greeting')); return; }
          resolve(msg as unknown as QmpGreeting);
          return;
        }
        client.dispatch(msg, r.value);
      }, { maxValueBytes: 64 << 20, maxTokens: 2 << 20, maxNesting: 1024 });
      sock.on('data', (d) => stream.feed(d));
      sock.on('error', (e) => { reject(e); client.fail(e); }); // every error: a reset after close must not go unhandled
      sock.once('close', () => { reject(new Error('QMP: connection closed')); client.fail(new Error('QMP: connection closed')); });
    });
    const timeout = opts.timeoutMs ?? 10000;
    let timer: NodeJS.Timeout | undefined;
    try {
      client.greeting = await Promise.race([
        greeting,
        new Promise<never>((_r, rej) => { timer = setTimeout(() => rej(new Error('QMP: no greeting in time')), timeout); }),
      ]);
    } catch (e) {
      sock.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (opts.negotiate !== false) await client.execute('qmp_capabilities');
    return client;
  }

  /** Runs a command pmemvm serves; arguments and "return" value typed by QmpCommandMap. */
  execute<K extends QmpCommandName>(command: K, args?: QmpCommandMap[K][0]): Promise<QmpCommandMap[K][1]>;
  /** Runs any other command (QEMU's), or one with a reply type of the caller's. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
  execute<T>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg['arguments'] = args;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, command });
      this.sock.write(toJson(fromPlain(msg)) + '\n'); // bigint-safe, unlike JSON.stringify
    });
  }

  /** HMP through QMP (human-monitor-command); resolves with the printed text. */
  hmp(commandLine: string): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine });
  }

  /** Calls `fn` for each event; returns a function that stops it. */
  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Events from now on, until the connection closes (or the loop breaks). */
  events(): AsyncIterableIterator<QmpEvent> {
    const queue: QmpEvent[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const off = this.onEvent((e) => {
      if (queue.length >= MAX_BUFFERED_EVENTS) queue.shift();
      queue.push(e);
      wake?.();
    });
    this.closedWaiters.push(() => { done = true; wake?.(); });
    const it: AsyncIterableIterator<QmpEvent> = {
      next: async () => {
        while (queue.length === 0 && !done && !this.closedError) await new Promise<void>((r) => { wake = r; });
        wake = undefined;
        if (queue.length) return { value: queue.shift()!, done: false };
        off();
        return { value: undefined, done: true };
      },
      return: async () => { off(); done = true; return { value: undefined, done: true }; },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Waits for the next event named `name` (optionally matching `pred`). */
  waitEvent(name: string, pred: (e: QmpEvent) => boolean = () => true, timeoutMs = 10000): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`QMP: no ${name} event in time`)); }, timeoutMs);
      const off = this.onEvent((e) => {
        if (e.event === name && pred(e)) { clearTimeout(timer); off(); resolve(e); }
      });
    });
  }

  async close(): Promise<void> {
    if (this.sock.destroyed) return;
    await new Promise<void>((r) => { this.sock.once('close', () => r()); this.sock.end(); setTimeout(() => this.sock.destroy(), 1000).unref(); });
  }

  private dispatch(msg: Record<string, unknown>, raw: QObject): void {
    if (typeof msg['event'] === 'string') {
      for (const l of [...this.listeners]) l(msg as unknown as QmpEvent);
      return;
    }
    const id = isQDict(raw) ? raw['id'] : undefined;
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) return; // not ours (a reply to someone else's malformed input cannot happen on our connection)
    this.pending.delete(id as number);
    if ('return' in msg) { p.resolve(msg['return']); return; }
    const err = (msg['error'] ?? {}) as { class?: string; desc?: string };
    p.reject(new QmpCommandError(err.class ?? 'GenericError', err.desc ?? 'unknown error', p.command));
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const w of this.closedWaiters) w();
  }
}
