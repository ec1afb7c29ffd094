/**
 * validateOptions(): rules that span options and need no files or devices.
 * Also runs the typed -object/-device parsers, so that after it returns
 * parseMemoryBackend() and parseDevice() succeed on every entry.
 * QEMU 7.2's message for each rule is quoted next to it.
 */
import { UserError } from '../errors.js';
import { parseMemoryBackend, type MemoryBackend } from './backends.js';
import { parseDevice, type PmemDevice } from './devices.js';
import { bareMaxmemHint } from './machine.js';
import { formatSize, MiB } from './size.js';
import { readChardev, type Chardev, type SocketAddress } from './chardev.js';
import { monitorLabels, nullMonitorMessage } from './monitors.js';
import type { DeviceSpec, MemoryOptions, VmOptions } from './vm-options.js';

export function validateOptions(o: VmOptions): void {
  checkMemory(o.memory);
  checkBoot(o);
  // QEMU: "Duplicate ID 'm0' for object" / "... for device" / "... for chardev"
  checkUniqueIds('-object', o.objects);
  checkUniqueIds('-device', o.devices);
  checkUniqueIds('-chardev', o.chardevs);
  const backends = new Map(o.objects.map((obj) => [obj.id, parseMemoryBackend(obj)]));
  checkDevices(o, backends);
  checkCharacterDevices(o);
}

function checkMemory(m: MemoryOptions): void {
  const ctx = '-m';
  const ram = formatSize(m.size);
  if (m.maxmem === undefined) {
    // QEMU: "slots specified but no max-size"
    if (m.slots > 0) throw new UserError(`${ctx}: slots=${m.slots} needs maxmem too (e.g. -m ${ram},slots=${m.slots},maxmem=${formatSize(m.size * 2n)})`);
    return;
  }
  const max = formatSize(m.maxmem);
  // QEMU: "invalid value of maxmem: maximum memory size (0x20000000) must be at least the initial memory size (0x40000000)"
  if (m.maxmem < m.size) {
    throw new UserError(`${ctx}: maxmem (${max}) is smaller than the RAM size (${ram}); maxmem is RAM plus room for memory devices${bareMaxmemHint(m.maxmem)}`);
  }
  // QEMU: "invalid value of maxmem: memory slots were specified but maximum memory size (0x40000000) is equal to the initial memory size (0x40000000)"
  if (m.maxmem === m.size && m.slots > 0) {
    throw new UserError(`${ctx}: maxmem (${max}) equals the RAM size, leaving no room for the ${m.slots} slots; make maxmem RAM plus the size of your memory devices`);
  }
  // maxmem without slots: QEMU 7.2 accepts it (older QEMU said "maxmem was
  // specified, but no hotplug slots were specified"); virtio-pmem needs no slots.
}

// QEMU: "-initrd only allowed with -kernel option" / "-append only allowed with -kernel option"
function checkBoot(o: VmOptions): void {
  if (o.kernel !== undefined) return;
  if (o.initrd !== undefined) throw new UserError('-initrd: only allowed with -kernel (give the kernel image with -kernel bzImage)');
  if (o.append !== undefined) throw new UserError('-append: only allowed with -kernel (give the kernel image with -kernel bzImage)');
}

function checkUniqueIds(opt: string, items: { id: string | undefined; arg: string }[]): void {
  const seen = new Map<string, string>();
  for (const item of items) {
    if (item.id === undefined) continue;
    const first = seen.get(item.id);
    if (first !== undefined) throw new UserError(`${opt} ${item.arg}: id '${item.id}' is already used by an earlier ${opt} ${first}`);
    seen.set(item.id, item.arg);
  }
}

function checkDevices(o: VmOptions, backends: Map<string, MemoryBackend>): void {
  const users = new Map<string, DeviceSpec>();
  const slots = new Map<number, DeviceSpec>();
  const placed: { addr: bigint; end: bigint; dev: DeviceSpec }[] = [];
  let used = 0n;
  for (const spec of o.devices) {
    const ctx = `-device ${spec.arg}`;
    const dev = parseDevice(spec);
    checkDeviceEnabled(ctx, o, dev);
    // QEMU: "Device 'mX' not found"
    const backend = backends.get(dev.memdev);
    if (!backend) {
      throw new UserError(`${ctx}: memdev '${dev.memdev}' names no -object (add -object memory-backend-file,id=${dev.memdev},mem-path=FILE,size=SIZE)`);
    }
    // QEMU: "can't use already busy memdev: m0"
    const other = users.get(dev.memdev);
    if (other) throw new UserError(`${ctx}: memdev '${dev.memdev}' is already used by -device ${other.arg}; give each device its own -object`);
    users.set(dev.memdev, spec);

    if (dev.driver === 'nvdimm') {
      checkNvdimmBackend(ctx, dev, backend);
      if (dev.slot !== undefined) {
        // QEMU: "invalid slot number 5, valid range is [0-1]"
        if (dev.slot >= o.memory.slots) {
          throw new UserError(`${ctx}: slot ${dev.slot} does not exist; -m slots=${o.memory.slots} gives slots 0 to ${o.memory.slots - 1}`);
        }
        // QEMU: "slot 1 is busy"
        const holder = slots.get(dev.slot);
        if (holder) throw new UserError(`${ctx}: slot ${dev.slot} is already used by -device ${holder.arg}`);
        slots.set(dev.slot, spec);
      }
      if (dev.addr !== undefined) {
        // QEMU: "address range conflicts with memory device id='(unnamed)'"
        const end = dev.addr + backend.size;
        const clash = placed.find((p) => dev.addr! < p.end && p.addr < end);
        if (clash) throw new UserError(`${ctx}: address range 0x${dev.addr.toString(16)}-0x${(end - 1n).toString(16)} overlaps -device ${clash.dev.arg}`);
        placed.push({ addr: dev.addr, end, dev: spec });
      }
    }
    used += backend.size;
    // QEMU: "not enough space, currently 0x0 in use of total space for memory devices 0x4c00000"
    const room = o.memory.maxmem! - o.memory.size;
    if (used > room) {
      throw new UserError(`${ctx}: not enough room for memory devices: they need ${formatSize(used)} but maxmem - RAM is ${formatSize(room)}; raise maxmem to at least ${formatSize(o.memory.size + used)}`);
    }
  }
  const nvdimms = o.devices.filter((d) => d.driver === 'nvdimm').length;
  if (nvdimms > o.memory.slots) {
    // QEMU fails at plug time ("no free slots"); say it up front.
    throw new UserError(`-m: ${nvdimms} nvdimm devices need ${nvdimms} slots but slots=${o.memory.slots}; raise slots`);
  }
}

function checkDeviceEnabled(ctx: string, o: VmOptions, dev: PmemDevice): void {
  const m = o.memory;
  if (dev.driver === 'nvdimm') {
    // QEMU: "nvdimm is not enabled: missing 'nvdimm' in '-M'"
    if (!o.machine.nvdimm) throw new UserError(`${ctx}: NVDIMM support is off; add -machine nvdimm=on`);
    // QEMU: "no slots where allocated, please specify the 'slots' option"
    if (m.slots === 0) throw new UserError(`${ctx}: no memory slots for the nvdimm; add slots and maxmem to -m (e.g. -m ${formatSize(m.size)},slots=4,maxmem=${formatSize(m.size * 4n)})`);
  }
  // QEMU: "memory devices (e.g. for memory hotplug) are not enabled, please specify the maxmem option"
  if (m.maxmem === undefined || m.maxmem === m.size) {
    throw new UserError(`${ctx}: no room for memory devices; add maxmem to -m, larger than the RAM size by the device sizes (e.g. -m ${formatSize(m.size)},maxmem=${formatSize(m.size * 4n)})`);
  }
}

function checkNvdimmBackend(ctx: string, dev: Extract<PmemDevice, { driver: 'nvdimm' }>, b: MemoryBackend): void {
  // QEMU: "'unarmed' property must be 'on' since memdev m0 is read-only"
  if (b.readonly && !dev.unarmed) {
    throw new UserError(`${ctx}: memdev '${b.id}' is read-only, so the nvdimm must be unarmed; add unarmed=on`);
  }
  // QEMU: "the size of memdev m0 (0x100000) is too small to contain nvdimm label (0x0) and aligned PMEM (0x200000)"
  // The PMEM part is the backend minus the label, rounded down to the backend's alignment.
  const align = b.align ?? (b.kind === 'ram' ? 2n * MiB : 4096n);
  const label = dev.labelSize ?? 0n;
  if (b.size <= label || (b.size - label) - ((b.size - label) % align) === 0n) {
    throw new UserError(`${ctx}: memdev '${b.id}' (${formatSize(b.size)}) is too small to hold the ${formatSize(label)} label area plus at least ${formatSize(align)} of persistent memory`);
  }
}

/**
 * -chardev, -serial, -qmp, -monitor, -mon together. Reads every -chardev
 * typed (readChardev), so that resolveMonitors() succeeds afterwards.
 */
function checkCharacterDevices(o: VmOptions): void {
  const chardevs = new Map(o.chardevs.map((c) => [c.id, readChardev(c)]));
  checkCompatLabels(o);
  // Frontends per chardev. QEMU: "Device 'c0' is in use" (a mux takes up to 4, MAX_MUX).
  const users = new Map<string, string[]>();
  const use = (id: string, who: string) => {
    const list = users.get(id) ?? [];
    const c = chardevs.get(id)!;
    if (c.backend === 'stdio' && c.mux) {
      if (list.length >= MAX_MUX) throw new UserError(`${who}: chardev '${id}' already serves ${MAX_MUX} frontends (${list.join(', ')}), the most a mux takes`);
    } else if (list.length) {
      const fix = c.backend === 'stdio' ? `; add mux=on to -chardev ${c.arg} to share it (Ctrl-A c switches)` : '; give each its own -chardev';
      throw new UserError(`${who}: chardev '${id}' is already used by ${list[0]}${fix}`);
    }
    list.push(who);
    users.set(id, list);
  };
  const stdio: string[] = [];
  for (const c of chardevs.values()) if (c.backend === 'stdio') stdio.push(`-chardev ${c.arg}`);
  for (const s of o.serials) {
    if (s.kind === 'stdio') stdio.push(s.withMonitor ? '-serial mon:stdio' : '-serial stdio');
    if (s.kind !== 'chardev') continue;
    // QEMU: "could not connect serial device to character backend 'chardev:nope'"
    if (!chardevs.has(s.id)) throw new UserError(`-serial chardev:${s.id}: no -chardev with id '${s.id}'`);
    use(s.id, `-serial chardev:${s.id}`);
  }
  for (const m of o.monitors) {
    if (m.endpoint.kind === 'stdio') stdio.push(m.source);
    if (m.endpoint.kind !== 'chardev') continue;
    const c = chardevs.get(m.endpoint.id);
    // QEMU: 'chardev "nope" not found'
    if (!c) throw new UserError(`${m.source}: no -chardev with id '${m.endpoint.id}'`);
    // QEMU accepts a monitor on a null chardev; it could never be reached.
    if (c.backend === 'null') throw new UserError(nullMonitorMessage(m.source, c.id));
    use(c.id, m.source);
  }
  // QEMU listens on every socket chardev, used or not; pmemvm opens sockets for its monitors only.
  for (const c of chardevs.values()) {
    if (c.backend === 'socket' && !users.has(c.id)) {
      throw new UserError(`-chardev ${c.arg}: nothing uses this socket; add -mon chardev=${c.id},mode=control (QMP) or -mon chardev=${c.id} (human monitor), or leave it out`);
    }
  }
  // QEMU: "cannot use stdio by multiple character devices"
  if (stdio.length > 1) {
    const why = o.nographic ? ' (-nographic puts the serial port on stdio unless -serial says otherwise)' : '';
    throw new UserError(`${stdio[1]}: stdio is already used by ${stdio[0]}${why}; only one of -serial, -qmp, -monitor, -chardev may use stdio (-serial mon:stdio or -chardev stdio,mux=on shares it)`);
  }
  checkSocketAddresses(o, chardevs);
}

const MAX_MUX = 4;

/** QEMU: "Duplicate ID 'compat_monitor0' for chardev": a -chardev id clashing with a -qmp/-monitor chardev's name. */
function checkCompatLabels(o: VmOptions): void {
  const labels = monitorLabels(o);
  o.monitors.forEach((m, i) => {
    if (m.endpoint.kind === 'chardev') return;
    const c = o.chardevs.find((x) => x.id === labels[i]);
    if (c) throw new UserError(`-chardev ${c.arg}: id '${c.id}' is the name QEMU gives the chardev of ${m.source}; choose another id`);
  });
}

/**
 * Two listeners on one address. QEMU lets a second unix socket unlink the
 * first's path (its monitor then cannot be reached) and fails at run time
 * on a TCP port in use; pmemvm refuses both before anything is opened.
 */
function checkSocketAddresses(o: VmOptions, chardevs: Map<string, Chardev>): void {
  const seen: { address: SocketAddress; who: string }[] = [];
  const add = (address: SocketAddress, who: string) => {
    for (const s of seen) {
      const a = s.address;
      if (a.kind === 'unix' && address.kind === 'unix' && a.path === address.path) {
        throw new UserError(`${who}: socket path '${a.path}' is already used by ${s.who}; give each socket its own path`);
      }
      if (a.kind === 'tcp' && address.kind === 'tcp' && a.port === address.port && a.port !== 0 &&
          (a.host === address.host || isWildcard(a.host) || isWildcard(address.host))) {
        throw new UserError(`${who}: TCP port ${a.port} is already used by ${s.who}; give each socket its own port (or port 0 for any free one)`);
      }
    }
    seen.push({ address, who });
  };
  for (const c of chardevs.values()) if (c.backend === 'socket') add(c.address, `-chardev ${c.arg}`);
  for (const m of o.monitors) {
    const e = m.endpoint;
    if (e.kind === 'unix') add({ kind: 'unix', path: e.path }, m.source);
    if (e.kind === 'tcp') add({ kind: 'tcp', host: e.host, port: e.port }, m.source);
  }
}

const isWildcard = (host: string) => host === '' || host === '0.0.0.0' || host === '::';
