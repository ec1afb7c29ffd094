/**
 * Work the main thread does after each slice of vCPU 0, before the guest runs again:
 * an io_uring's completions (devices/virtio/pmem-reactor.ts), whose kick took vCPU 0 out
 * of KVM_RUN. Run here, they wait for no event-loop turn.
 * Such work signals the main thread with libc.workSignal(), not the kick signal: when
 * nothing but this work took vCPU 0 out of the guest, vCPU 0 goes straight back in.
 */
export interface MainThreadWork {
  /** Anything to do now (cheap: asked after every slice). */
  pending(): boolean;
  run(): void;
}

const works: MainThreadWork[] = [];

export function addMainThreadWork(w: MainThreadWork): void { works.push(w); }

/** Run what is pending; true if anything was. */
export function runMainThreadWork(): boolean {
  let ran = false;
  for (let i = 0; i < works.length; i++) if (works[i]!.pending()) { works[i]!.run(); ran = true; }
  return ran;
}
