/**
 * A stand-in MachineControl: enough state to exercise the monitor in tests and by hand
 * before it is wired to the real machine. Its default contents are those of the QEMU
 * run the unit tests' vectors were recorded from (`-machine pc,nvdimm=on -m 128M,slots=2,
 * maxmem=1G -smp 2 -name guest1`, an NVDIMM nv1 on mem1 and a virtio-pmem vp1 on mem2).
 */
import type { CpuRegisters } from '../kvm/vcpu-registers.js';
import type { Segment } from '../sys/kvm-abi.js';
import type { ChardevInfo, CpuInfo, DurabilityEntry, MachineControl, MemdevInfo, MemoryDeviceInfo, PciBusInfo, RunState } from './machine-control.js';
import { QmpError } from './qmp-errors.js';

export class FakeMachine implements MachineControl {
  state: RunState = 'running';
  vmName: string | undefined = 'guest1';
  events: { name: string; data?: Record<string, unknown> }[] = [];
  quitCalls = 0;
  objects = new Map<string, Record<string, string>>();
  devices = new Map<string, Record<string, string>>();
  /** Makes every mutating call wait this long (to test slow commands). */
  delayMs = 0;

  constructor(private readonly emit: (name: string, data?: Record<string, unknown>) => void = () => {}) {}

  private event(name: string, data?: Record<string, unknown>): void {
    this.events.push(data === undefined ? { name } : { name, data });
    this.emit(name, data);
  }

  private later<T>(fn: () => T): T | Promise<T> {
    if (!this.delayMs) return fn();
    return new Promise<T>((resolve, reject) => setTimeout(() => { try { resolve(fn()); } catch (e) { reject(e); } }, this.delayMs));
  }

  status() { return { status: this.state, running: this.state === 'running' }; }
  stop() { return this.later(() => { if (this.state === 'running') { this.state = 'paused'; this.event('STOP'); } }); }
  cont() { return this.later(() => { if (this.state !== 'running') { this.state = 'running'; this.event('RESUME'); } }); }
  reset() { this.event('RESET', { guest: false, reason: 'host-qmp-system-reset' }); }
  powerdown() { this.event('POWERDOWN'); }
  quit() { this.quitCalls++; this.event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }); }
  name() { return this.vmName; }
  kvm() { return { enabled: false, present: true }; }
  /** Two vCPUs in a 64-bit kernel: 0 halted in its idle loop, 1 running. */
  async cpuRegisters(): Promise<CpuRegisters[]> {
    const seg = (selector: number, type: number, l: number, db: number): Segment =>
      ({ base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db, s: 1, l, g: 1, avl: 0, unusable: 0 });
    const none: Segment = { base: 0n, limit: 0xfffff, selector: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };
    const zero = { rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0n, rbp: 0n, r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n };
    return [0, 1].map((i) => ({
      regs: { ...zero, rsp: 0xffffffff82603e80n + BigInt(i) * 0x4000n, rip: 0xffffffff81c8e3aen + BigInt(i), rflags: 0x246n },
      segs: { cs: seg(0x10, 11, 1, 0), ds: none, es: none, fs: none, gs: { ...none, base: 0xffff88801f000000n }, ss: seg(0x18, 3, 0, 1),
        tr: { ...none, selector: 0x40, base: 0xfffffe0000003000n, limit: 0x4087, type: 11, present: 1, s: 0, unusable: 0 }, ldt: none },
      gdt: { base: 0xfffffe0000001000n, limit: 0x7f }, idt: { base: 0xfffffe0000000000n, limit: 0xfff },
      cr0: 0x80050033n, cr2: 0n, cr3: 0x1e0a000n, cr4: 0x6f0n, efer: 0xd01n,
      dr: [0n, 0n, 0n, 0n, 0xffff0ff0n, 0x400n],
      fcw: 0x37f, fsw: 0, ftw: 0, mxcsr: 0x1f80,
      fpr: Array.from({ length: 8 }, () => ({ mantissa: 0n, exponent: 0 })),
      vectors: Array.from({ length: 16 }, () => [0n, 0n]), opmask: [], xcr0: 1n,
      halted: i === 0, interruptShadow: false,
    }));
  }

  cpus(): CpuInfo[] {
    return [0, 1].map((i) => ({
      cpuIndex: i, threadId: 7556 + i, qomPath: `/machine/unattached/device[${i * 2}]`,
      props: { coreId: i, threadId: 0, nodeId: 0, socketId: 0 }, target: 'x86_64' as const,
    }));
  }
  memorySizeSummary() { return { baseMemory: 134217728, pluggedMemory: 134086656 }; }
  memoryDevices(): MemoryDeviceInfo[] {
    return [
      { type: 'nvdimm', data: { id: 'nv1', addr: 4294967296, size: 66977792, slot: 0, node: 0, memdev: '/objects/mem1', hotplugged: false, hotpluggable: true } },
      { type: 'virtio-pmem', data: { id: 'vp1', memaddr: 4361945088, size: 67108864, memdev: '/objects/mem2' } },
    ];
  }
  memdevs(): MemdevInfo[] {
    const m = (id: string, size: number, share: boolean): MemdevInfo => ({ id, size, merge: true, dump: true, prealloc: false, share, reserve: true, hostNodes: [], policy: 'default' });
    return [m('mem1', 67108864, true), m('pc.ram', 134217728, false), m('mem2', 67108864, false)];
  }
  pci(): PciBusInfo[] {
    const sub = { subsystemVendor: 0x1af4, subsystem: 0x1100 };
    return [{
      bus: 0,
      devices: [
        { bus: 0, slot: 0, function: 0, classInfo: { desc: 'Host bridge', class: 0x0600 }, id: { vendor: 0x8086, device: 0x1237, ...sub }, irqPin: 0, regions: [], qdevId: '' },
        { bus: 0, slot: 1, function: 0, classInfo: { desc: 'ISA bridge', class: 0x0601 }, id: { vendor: 0x8086, device: 0x7000, ...sub }, irqPin: 0, regions: [], qdevId: '' },
        { bus: 0, slot: 1, function: 1, classInfo: { desc: 'IDE controller', class: 0x0101 }, id: { vendor: 0x8086, device: 0x7010, ...sub }, irqPin: 0, regions: [{ bar: 4, type: 'io', address: -1, size: 16 }], qdevId: '' },
        { bus: 0, slot: 1, function: 3, classInfo: { desc: 'Bridge', class: 0x0680 }, id: { vendor: 0x8086, device: 0x7113, ...sub }, irq: 0, irqPin: 1, regions: [], qdevId: '' },
        { bus: 0, slot: 2, function: 0, classInfo: { class: 0x00ff }, id: { vendor: 0x1af4, device: 0x105b, ...sub }, irq: 0, irqPin: 1, regions: [{ bar: 4, type: 'memory', address: -1, size: 16384, prefetch: true, memType64: true }], qdevId: 'vp1' },
      ],
    }];
  }
  chardevs(): ChardevInfo[] {
    return [
      { label: 'compat_monitor1', filename: 'disconnected:unix:/tmp/mon/h2.sock,server=on', frontendOpen: true },
      { label: 'compat_monitor0', filename: 'unix:/tmp/mon/q2.sock,server=on', frontendOpen: true },
    ];
  }
  /** Breaks sent, by chardev label (tests read it). */
  readonly breaks: string[] = [];
  chardevSendBreak(id: string): void {
    if (!this.chardevs().some((c) => c.label === id)) throw new QmpError('GenericError', `Chardev '${id}' not found`);
    this.breaks.push(id);
  }
  durability(): DurabilityEntry[] {
    return [{
      device: 'nv1', driver: 'nvdimm', slot: 0, addr: 4294967296, size: 66977792, backend: 'mem1', path: '/tmp/mon/nv.img',
      crashSafe: false, mode: 'page-cache', reason: 'guest writes sit in the host page cache until written back',
    }];
  }
  objectAdd(props: Record<string, string>) {
    return this.later(() => {
      const id = props['id']!;
      if (this.objects.has(id)) throw new QmpError('GenericError', `attempt to add duplicate property '${id}' to object (type 'container')`);
      this.objects.set(id, props);
    });
  }
  objectDel(id: string) {
    if (!this.objects.delete(id)) throw new QmpError('GenericError', `object '${id}' not found`);
  }
  deviceAdd(props: Record<string, string>) {
    return this.later(() => {
      const memdev = props['memdev'];
      if (memdev !== undefined && !this.objects.has(memdev)) throw new QmpError('GenericError', `Device '${memdev}' not found`);
      this.devices.set(props['id'] ?? `#${this.devices.size}`, props);
    });
  }
  deviceDel(id: string) {
    if (!this.devices.delete(id)) throw new QmpError('DeviceNotFound', `Device '${id}' not found`);
  }
}
