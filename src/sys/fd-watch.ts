/**
 * Waiting for an eventfd on the calling thread's event loop, with no thread
 * of its own: libuv polls it with everything else the loop waits for, and
 * each wake-up reads (and so resets) the counter. KVM's ioeventfds then wake
 * a JavaScript thread directly, as a blocking read() would, without that
 * thread having to block.
 *
 * Node has no public API for an arbitrary fd (net.Socket refuses an eventfd
 * by its type), so the fd goes into a pipe handle, which libuv reads with
 * plain read(2): for an eventfd that is the 8-byte counter.
 */
import { Socket } from 'node:net';
import { SysError, close, dup } from './libc.js';

interface PipeBinding {
  Pipe: new (type: number) => { open(fd: number): number };
  constants: { SOCKET: number };
}

export interface EventfdWatch {
  /** Stop watching; the watch's own copy of the fd is closed before this returns. */
  close(): void;
  /** Whether the watch keeps the process alive (it does at first, as any handle). */
  ref(): void;
  unref(): void;
}

/** Call `onSignal` on this thread's event loop whenever `fd` (an eventfd) is signalled; coalesced signals give one call. */
export function watchEventfd(fd: number, onSignal: () => void, onError: (e: Error) => void): EventfdWatch {
  // A copy of its own: closing the watch closes it, and the caller's fd stays valid (KVM_IOEVENTFD deassign needs it).
  // It shares the file's flags: libuv makes it non-blocking, which writers of an eventfd never notice.
  const own = dup(fd);
  const { Pipe, constants } = (process as unknown as { binding(name: string): PipeBinding }).binding('pipe_wrap');
  const handle = new Pipe(constants.SOCKET);
  const err = handle.open(own);
  if (err) {
    close(own);
    throw new SysError('uv_pipe_open', -err);
  }
  // `handle` is what net.Socket itself uses for an fd it accepts (undocumented, so not in the types).
  // onread: libuv reads the 8-byte counter into this one buffer and calls back, with no Buffer
  // allocated per wake-up and no 'data' event (garbage here would be collected on the flush path).
  let open = true;
  const counter = Buffer.alloc(8);
  const socket = new Socket({ handle, readable: true, writable: false, onread: { buffer: counter, callback: () => { if (open) onSignal(); } } } as ConstructorParameters<typeof Socket>[0]);
  socket.on('error', onError);
  return {
    close() {
      if (!open) return;
      open = false;
      socket.destroy(); // uv_close closes the fd at once
    },
    ref() { socket.ref(); },
    unref() { socket.unref(); },
  };
}
