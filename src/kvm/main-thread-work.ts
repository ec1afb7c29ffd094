/**
 * Work the main thread does after each slice of vCPU 0, before the guest runs again:
 * an io_uring's completions (devices/virtio/pmem-reactor.ts), whose kick took vCPU 0 out
 * of KVM_RUN. Run here, they wait for no event-loop turn.
 */
export interface MainThreadWork {
  /** Anything to do now (cheap: asked after every slice). */
  pending(): boolean;
  run(): void;
}

const works: MainThreadWork[] = [];

export function addMainThreadWork(w: MainThreadWork): void { works.push(w); }

export function runMainThreadWork(): void {
  for (let i = 0; i < works.length; i++) if (works[i]!.pending()) works[i]!.run();
}
