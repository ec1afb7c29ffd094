/**
 * The only door to the kernel: libc through koffi. Everything above this
 * module is plain TypeScript. Failing calls throw SysError with errno.
 */
import { fsync as nodeFsync } from 'node:fs';
import { koffi } from './koffi.js';


const lib = koffi.load('libc.so.6');

export class SysError extends Error {
  override name = 'SysError';
  constructor(readonly call: string, readonly errno: number) {
    super(`${call}: ${errnoName(errno)} (${errno})`);
  }
  get code(): string { return errnoName(this.errno); }
}

// Names for messages only, so node:os (a load of its own at every start) waits for the first.
// Of two names for one value (EAGAIN and EWOULDBLOCK, ENOTSUP and EOPNOTSUPP), the table's last, as before.
let errnoNames: Map<number, string> | undefined;
export function errnoName(n: number): string {
  errnoNames ??= new Map(Object.entries(process.getBuiltinModule('node:os').constants.errno).map(([k, v]) => [v, k]));
  return errnoNames.get(n) ?? `errno ${n}`;
}
/** The errno values pmemvm tests for: Linux's x86-64 ABI fixes them (test/unit checks them against Node's table). */
export const ERRNO = { EINTR: 4, EIO: 5, E2BIG: 7, EBADF: 9, EAGAIN: 11, EINVAL: 22, EOPNOTSUPP: 95, ECANCELED: 125 } as const;

export function lastErrno(): number { return koffi.errno(); }

const c = {
  open: lib.func('int open(const char *path, int flags, int mode)'),
  close: lib.func('int close(int fd)'),
  dup: lib.func('int dup(int fd)'),
  ioctlInt: lib.func('int ioctl(int fd, unsigned long req, unsigned long arg)'),
  ioctlPtr: lib.func('int ioctl(int fd, unsigned long req, void *arg)'),
  mmap: lib.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)'),
  munmap: lib.func('int munmap(uintptr_t addr, size_t len)'),
  msync: lib.func('int msync(uintptr_t addr, size_t len, int flags)'),
  madvise: lib.func('int madvise(uintptr_t addr, size_t len, int advice)'),
  fsync: lib.func('int fsync(int fd)'),
  fdatasync: lib.func('int fdatasync(int fd)'),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
  memfdCreate: lib.func('int memfd_create(const char *name, unsigned int flags)'),
  ftruncate: lib.func('int ftruncate(int fd, int64_t len)'),
  pipe2: lib.func('int pipe2(int *fds, int flags)'),
  read: lib.func('intptr_t read(int fd, void *buf, size_t n)'),
  write: lib.func('intptr_t write(int fd, const void *buf, size_t n)'),
  sigaction: lib.func('int sigaction(int sig, const void *act, void *old)'),
  pthreadSigmask: lib.func('int pthread_sigmask(int how, const void *set, void *old)'),
  pthreadKill: lib.func('int pthread_kill(uintptr_t thread, int sig)'),
  pthreadSelf: lib.func('uintptr_t pthread_self(void)'),
  sigrtmin: lib.func('int __libc_current_sigrtmin(void)'),
  getpagesize: lib.func('int getpagesize(void)'),
  gettid: lib.func('int gettid(void)'),
  setpriority: lib.func('int setpriority(int which, unsigned int who, int prio)'),
  // fcntl is variadic; fixed prototypes per argument kind, as for ioctl.
  sigtimedwait: lib.func('int sigtimedwait(const void *set, void *info, const void *timeout)'),
  fcntlInt: lib.func('int fcntl(int fd, int cmd, long arg)'),
  fcntlPtr: lib.func('int fcntl(int fd, int cmd, const void *arg)'),
  timerCreate: lib.func('int timer_create(int clockid, void *sevp, void *timerid)'),
  timerSettime: lib.func('int timer_settime(uintptr_t timerid, int flags, const void *value, void *old)'),
  timerDelete: lib.func('int timer_delete(uintptr_t timerid)'),
};

function check(call: string, ret: number | bigint): number {
  const r = Number(ret);
  if (r < 0) throw new SysError(call, koffi.errno());
  return r;
}

export const O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0o2000000;
export const PROT_READ = 1, PROT_WRITE = 2;
export const MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
export const MAP_SHARED_VALIDATE = 0x03, MAP_SYNC = 0x80000, MAP_FIXED = 0x10;
export const PROT_NONE = 0;
export const MS_SYNC = 4;
export const MADV_DONTFORK = 10, MADV_REMOVE = 9, MADV_HUGEPAGE = 14;
/** Fault every page in writable (Linux 5.14+), without changing its contents. */
export const MADV_POPULATE_WRITE = 23;
export const EFD_CLOEXEC = 0o2000000, EFD_NONBLOCK = 0o4000;

export function open(path: string, flags: number, mode = 0): number {
  return check(`open ${path}`, c.open(path, flags | O_CLOEXEC, mode));
}
export function close(fd: number): void { check('close', c.close(fd)); }

/**
 * An ioctl, again while a signal interrupts it before it did anything: KVM_CREATE_VM gives
 * up with EINTR whenever a signal is pending while it registers its MMU notifier, and a
 * signal can come at any time (a terminal resize, a profiler's SIGPROF). KVM_RUN is not
 * called through here: its EINTR is how a vCPU is kicked (ioctlRaw).
 */
function ioctlRetry(req: number, call: () => number | bigint): number {
  for (;;) {
    const r = Number(call());
    if (r >= 0) return r;
    const errno = koffi.errno();
    if (errno !== ERRNO.EINTR) throw new SysError(`ioctl 0x${req.toString(16)}`, errno);
  }
}
/** ioctl with an integer argument. */
export function ioctl(fd: number, req: number, arg: number | bigint = 0): number {
  return ioctlRetry(req, () => c.ioctlInt(fd, req, arg));
}
/** ioctl with a pointer to a buffer the kernel reads and/or writes. */
export function ioctlBuf(fd: number, req: number, buf: Uint8Array): number {
  return ioctlRetry(req, () => c.ioctlPtr(fd, req, buf));
}
/** Like ioctl, but returns -errno instead of throwing (hot path: KVM_RUN). */
export function ioctlRaw(fd: number, req: number, arg: number): number {
  const r = c.ioctlInt(fd, req, arg) as number;
  return r < 0 ? -koffi.errno() : r;
}

const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
/** mmap; returns the address as bigint (a user-space pointer). */
export function mmap(len: number, prot: number, flags: number, fd = -1, offset = 0): bigint {
  const p = BigInt(c.mmap(0, len, prot, flags, fd, offset));
  if (p === MAP_FAILED) throw new SysError('mmap', koffi.errno());
  return p;
}
/** mmap at a fixed address (MAP_FIXED is added): replaces what was there. */
export function mmapAt(addr: bigint, len: number, prot: number, flags: number, fd = -1, offset = 0): bigint {
  const p = BigInt(c.mmap(addr, len, prot, flags | MAP_FIXED, fd, offset));
  if (p === MAP_FAILED) throw new SysError('mmap', koffi.errno());
  return p;
}
export function munmap(addr: bigint, len: number): void { check('munmap', c.munmap(addr, len)); }
export function msync(addr: bigint, len: number): void { check('msync', c.msync(addr, len, MS_SYNC)); }
export function madvise(addr: bigint, len: number, advice: number): void {
  check('madvise', c.madvise(addr, len, advice));
}
export function fsync(fd: number): void { check('fsync', c.fsync(fd)); }
export function fdatasync(fd: number): void { check('fdatasync', c.fdatasync(fd)); }
/** fdatasync returning 0 or -errno (a vCPU thread's flush-hint exit: no exception objects there). */
export function fdatasyncRaw(fd: number): number {
  const r = c.fdatasync(fd) as number;
  return r < 0 ? -koffi.errno() : 0;
}
/**
 * fsync on libuv's thread pool: the calling thread goes on serving its event
 * loop, and `done` runs there afterwards (with the error, if any). It is the
 * fsync(2) system call all the same (strace sees it).
 */
export function fsyncAsync(fd: number, done: (error: Error | null) => void): void { nodeFsync(fd, done); }
export function dup(fd: number): number { return check('dup', c.dup(fd)); }
/** A pipe, both ends non-blocking and close-on-exec: [read end, write end]. */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  check('pipe2', c.pipe2(fds, O_CLOEXEC | EFD_NONBLOCK));
  return [fds[0]!, fds[1]!];
}
const drainBuf = new Uint8Array(256);
/** Empty a non-blocking pipe, or reset a non-blocking eventfd's counter (nothing to read is fine). */
export function drainFd(fd: number): void { while ((c.read(fd, drainBuf, drainBuf.length) as number) === drainBuf.length) { /* more */ } }
export function eventfd(flags = EFD_CLOEXEC): number { return check('eventfd', c.eventfd(0, flags)); }
const counter = new BigUint64Array(1);
/** Take a non-blocking eventfd's counter: what was added since the last take (0 if nothing). */
export function takeEventfd(fd: number): number {
  const r = Number(c.read(fd, counter, 8));
  if (r === 8) return Number(counter[0]);
  const errno = koffi.errno();
  if (errno === ERRNO.EAGAIN) return 0;
  throw new SysError('read', errno);
}
/** An anonymous file of `size` bytes in memory (memfd_create), close-on-exec. */
export function memfd(name: string, size: number): number {
  const fd = check('memfd_create', c.memfdCreate(name, 1 /* MFD_CLOEXEC */));
  try { check('ftruncate', c.ftruncate(fd, size)); } catch (e) { c.close(fd); throw e; }
  return fd;
}
export function read(fd: number, buf: Uint8Array): number { return check('read', c.read(fd, buf, buf.length)); }
export function write(fd: number, buf: Uint8Array): number { return check('write', c.write(fd, buf, buf.length)); }
export function pageSize(): number { return c.getpagesize() as number; }

/**
 * A zero-copy view of host memory at `addr`. Views must be ≤ 1 GiB (koffi
 * aborts above 4 GiB) and do not keep the mapping alive: never use one after
 * munmap.
 */
export function view(addr: bigint, len: number): ArrayBuffer {
  if (len > 1 << 30) throw new RangeError(`view of ${len} bytes is over 1 GiB`);
  return koffi.view(addr, len);
}

// ---- signals: how a vCPU thread is kicked out of KVM_RUN ----

/** The signal used to kick vCPU threads (a real-time one Node does not use). */
export function kickSignal(): number { return (c.sigrtmin() as number) + 5; }
/**
 * The signal that takes the main thread out of KVM_RUN for its own device work (an
 * io_uring completion): unlike a kick, it needs no event-loop turn afterwards.
 */
export function workSignal(): number { return (c.sigrtmin() as number) + 6; }
/**
 * The signal of the main thread's slice timer: its own, so the end of a slice is told from a
 * kick, and a slice can run with kicks held off (kvm/slice-share.ts).
 */
export function timerSignal(): number { return (c.sigrtmin() as number) + 7; }
/**
 * The signal input on a monitor socket sends the main thread: its own, so a slice that is the
 * guest's own holds it off while worker vCPUs' kicks (the guest's own I/O) still end the slice.
 */
export function inputSignal(): number { return (c.sigrtmin() as number) + 8; }

const SIG_BLOCK = 0, SIG_UNBLOCK = 1;
function sigset(...sigs: number[]): Uint8Array {
  const set = new Uint8Array(128);
  for (const sig of sigs) set[(sig - 1) >> 3] |= 1 << ((sig - 1) & 7);
  return set;
}
/**
 * Install a handler that does nothing, so the signal interrupts KVM_RUN
 * (EINTR) instead of killing us or being ignored. The handler must be C code:
 * a JS callback would run on the wrong thread. getpid is async-signal-safe
 * and ignores its argument.
 */
export function installKickHandler(sig: number): void {
  const act = new Uint8Array(152); // struct sigaction (glibc x86-64): handler, mask, flags at 136
  const v = new DataView(act.buffer);
  v.setBigUint64(0, koffi.address(lib.symbol('getpid')), true);
  // SA_RESTART: the main thread gets periodic kicks too; other system calls resume
  // (KVM_RUN still returns EINTR: KVM never restarts it).
  v.setUint32(136, SA_RESTART, true);
  check('sigaction', c.sigaction(sig, act, null));
}
const SA_RESTART = 0x10000000;

/**
 * Send `sig` to the calling thread every `periodMs` (timer_create with
 * SIGEV_THREAD_ID): the main thread's vCPU leaves KVM_RUN that often to let
 * the event loop run.
 */
export function threadTimer(sig: number, periodMs: number): { stop(): void; expireIn(ms: number): void } {
  const CLOCK_MONOTONIC = 1, SIGEV_THREAD_ID = 4;
  const sev = new Uint8Array(64); // struct sigevent: value, signo, notify, tid
  const sv = new DataView(sev.buffer);
  sv.setInt32(8, sig, true);
  sv.setInt32(12, SIGEV_THREAD_ID, true);
  sv.setInt32(16, c.gettid() as number, true);
  const idBuf = new Uint8Array(8);
  check('timer_create', c.timerCreate(CLOCK_MONOTONIC, sev, idBuf));
  const id = new DataView(idBuf.buffer).getBigUint64(0, true);
  const spec = new Uint8Array(32); // struct itimerspec: interval, then first expiry
  const tv = new DataView(spec.buffer);
  const ns = BigInt(Math.round(periodMs * 1e6));
  for (const o of [0, 16]) { tv.setBigInt64(o, ns / 1_000_000_000n, true); tv.setBigInt64(o + 8, ns % 1_000_000_000n, true); }
  check('timer_settime', c.timerSettime(id, 0, spec, null));
  let live = true;
  return {
    stop() { if (live) { live = false; check('timer_delete', c.timerDelete(id)); } },
    expireIn(ms: number) {
      // The next expiry after `ms`, then every period again.
      const first = BigInt(Math.round(ms * 1e6));
      tv.setBigInt64(16, first / 1_000_000_000n, true);
      tv.setBigInt64(24, first % 1_000_000_000n, true);
      if (live) check('timer_settime', c.timerSettime(id, 0, spec, null));
    },
  };
}
export function unblockSignal(sig: number): void {
  const r = c.pthreadSigmask(SIG_UNBLOCK, sigset(sig), null) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
}
export function blockSignal(sig: number): void {
  const r = c.pthreadSigmask(SIG_BLOCK, sigset(sig), null) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
}
export function gettid(): number { return c.gettid() as number; }
const PRIO_PROCESS = 0;
/** Set one thread's nice value (Linux keeps it per thread: `who` is a thread id). */
export function setThreadNice(tid: number, nice: number): void {
  check('setpriority', c.setpriority(PRIO_PROCESS, tid, nice));
}

const F_GETFL = 3, F_SETFL = 4, F_SETSIG = 10, F_SETOWN_EX = 15, F_OWNER_TID = 0, O_ASYNC = 0o20000;
const SIGIO = 29, SIG_IGN = 1n;
let sigioIgnored = false;
/**
 * Have the kernel send `sig` to thread `tid` whenever `fd` has input (O_ASYNC,
 * F_SETOWN_EX, F_SETSIG): a thread blocked in KVM_RUN then returns to its
 * event loop at once instead of at the end of its time slice. SIGIO, which the
 * kernel sends instead if the real-time signal queue ever overflows, is ignored.
 */
export function signalThreadOnInput(fd: number, tid: number, sig: number): void {
  if (!sigioIgnored) {
    const act = new Uint8Array(152);
    new DataView(act.buffer).setBigUint64(0, SIG_IGN, true);
    check('sigaction', c.sigaction(SIGIO, act, null));
    sigioIgnored = true;
  }
  const owner = new Uint8Array(8); // struct f_owner_ex { int type; pid_t pid; }
  const ov = new DataView(owner.buffer);
  ov.setInt32(0, F_OWNER_TID, true);
  ov.setInt32(4, tid, true);
  check('fcntl(F_SETOWN_EX)', c.fcntlPtr(fd, F_SETOWN_EX, owner));
  check('fcntl(F_SETSIG)', c.fcntlInt(fd, F_SETSIG, sig));
  const flags = check('fcntl(F_GETFL)', c.fcntlInt(fd, F_GETFL, 0));
  check('fcntl(F_SETFL)', c.fcntlInt(fd, F_SETFL, flags | O_ASYNC));
}

/** Stop the signal that signalThreadOnInput() set up for `fd` (it can be set up again). */
export function stopSignalOnInput(fd: number): void {
  const flags = check('fcntl(F_GETFL)', c.fcntlInt(fd, F_GETFL, 0));
  check('fcntl(F_SETFL)', c.fcntlInt(fd, F_SETFL, flags & ~O_ASYNC));
}

export function pthreadSelf(): bigint { return BigInt(c.pthreadSelf()); }

/** The calling thread's blocked-signal mask, as the kernel's 64-bit sigset (what KVM_SET_SIGNAL_MASK takes). */
export function threadSignalMask(): Uint8Array {
  const old = new Uint8Array(128);
  const r = c.pthreadSigmask(SIG_BLOCK, null, old) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
  return old.slice(0, 8);
}

const ZERO_TIMESPEC = new Uint8Array(16);
/** Take every pending instance of a blocked signal, without waiting; returns how many there were. */
// drainSignal runs after every slice of vCPU 0: one set per signal, not one per call.
const drainSets = new Map<number, Uint8Array>();
export function drainSignal(sig: number): number {
  let set = drainSets.get(sig);
  if (!set) drainSets.set(sig, set = sigset(sig));
  let taken = 0;
  while ((c.sigtimedwait(set, null, ZERO_TIMESPEC) as number) >= 0) taken++;
  return taken;
}
/** A set of signals for takeSignal, made once (it is taken from after every slice of vCPU 0). */
export type SignalSet = Uint8Array;
export function signalSet(...sigs: number[]): SignalSet { return sigset(...sigs); }
/**
 * Take one pending instance of any signal of `set` (all blocked), without waiting: the signal
 * taken (the lowest-numbered one pending), or 0 if none was. One system call, and no
 * allocation; what stays pending is taken later.
 */
export function takeSignal(set: SignalSet): number {
  const s = c.sigtimedwait(set, null, ZERO_TIMESPEC) as number;
  return s > 0 ? s : 0;
}
export function pthreadKill(thread: bigint, sig: number): void {
  const r = c.pthreadKill(thread, sig) as number;
  if (r !== 0) throw new SysError('pthread_kill', r);
}
