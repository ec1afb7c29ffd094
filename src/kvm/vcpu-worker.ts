/**
 * A vCPU thread: the vCPU loop in a worker. Exits that need a device model
 * are handed to the main thread, which owns every device, through the channel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as libc from '../sys/libc.js';
import { RUN } from '../sys/kvm-abi.js';
import { PciConfigShared } from './pci-config-fastpath.js';
import { IDLE, REQUEST, STATE, VcpuChannel, VcpuEvent, VcpuWorkerData } from './vcpu-channel.js';
import { VcpuLoop } from './vcpu-loop.js';

const d = workerData as VcpuWorkerData;
const ch = new VcpuChannel(d.sab);
const post = (e: VcpuEvent) => parentPort!.postMessage(e);
const mainKick = d.mainKick ? { run: new Uint8Array(libc.view(d.mainKick.runAddr, 8)), thread: d.mainKick.thread } : null;

/** Hand the request to the main thread and wait for it to be done. */
function forward(): void {
  const ctl = ch.ctl;
  Atomics.store(ctl, STATE, REQUEST);
  Atomics.notify(ctl, STATE);
  // The main thread may be running vCPU 0 in KVM_RUN: make it return to its event loop.
  if (mainKick) kickMain(mainKick);
  while (Atomics.load(ctl, STATE) === REQUEST) Atomics.wait(ctl, STATE, REQUEST);
  Atomics.store(ctl, STATE, IDLE);
  Atomics.notify(ctl, STATE);
}

function kickMain(k: { run: Uint8Array; thread: bigint }): void {
  k.run[RUN.IMMEDIATE_EXIT] = 1;
  try { libc.pthreadKill(k.thread, d.kickSignal); } catch { /* main thread gone: we are being torn down */ }
}

libc.unblockSignal(d.kickSignal);
post({ type: 'started', index: d.index, thread: libc.pthreadSelf(), tid: libc.gettid() });
const loop = new VcpuLoop({ ...d, ch, pci: new PciConfigShared(d.pciSab) }, forward, post);
loop.loop(false);
post({ type: 'stopped', index: d.index });
