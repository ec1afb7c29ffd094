/**
 * HMP's texts for the info commands, from QEMU 7.2's monitor/hmp-cmds.c: each takes the
 * QMP reply (QAPI member names, as commands.ts builds it) and returns the lines HMP
 * prints, with "\n" endings (the monitor turns them into "\r\n").
 */
import { PACKAGE, QEMU_VERSION } from './version.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const u64 = (v: number | bigint) => BigInt.asUintN(64, BigInt(v));
const hex = (v: number | bigint, width = 0) => u64(v).toString(16).padStart(width, '0');

export function formatStatus(s: Obj): string {
  let line = `VM status: ${s['running'] ? 'running' : 'paused'}`;
  if (!s['running'] && s['status'] !== 'paused') line += ` (${s['status']})`;
  return line + '\n';
}

export function formatVersion(v: Obj = { qemu: QEMU_VERSION, package: PACKAGE }): string {
  return `${v['qemu']['major']}.${v['qemu']['minor']}.${v['qemu']['micro']}${v['package']}\n`;
}

export function formatName(n: Obj): string {
  return n['name'] === undefined ? '' : `${n['name']}\n`;
}

export function formatKvm(k: Obj): string {
  return 'kvm support: ' + (k['present'] ? (k['enabled'] ? 'enabled' : 'disabled') : 'not compiled') + '\n';
}

/** `current` is the monitor's CPU (QEMU: the first CPU unless cpu-index says otherwise). */
export function formatCpus(cpus: Obj[], current: number): string {
  return cpus.map((c) => `${c['cpu-index'] === current ? '*' : ' '} CPU #${c['cpu-index']}: thread_id=${c['thread-id']}\n`).join('');
}

export function formatMemoryDevices(devs: Obj[]): string {
  let out = '';
  for (const d of devs) {
    const x = d['data'];
    out += `Memory device [${d['type']}]: "${x['id'] ?? ''}"\n`;
    if (d['type'] === 'virtio-pmem') {
      out += `  memaddr: 0x${hex(x['memaddr'])}\n  size: ${u64(x['size'])}\n  memdev: ${x['memdev']}\n`;
    } else {
      out += `  addr: 0x${hex(x['addr'])}\n  slot: ${x['slot']}\n  node: ${x['node']}\n  size: ${u64(x['size'])}\n`
        + `  memdev: ${x['memdev']}\n  hotplugged: ${x['hotplugged']}\n  hotpluggable: ${x['hotpluggable']}\n`;
    }
  }
  return out;
}

/** QEMU's string output visitor for a list of numbers: ranges "0-3,5". */
function hostNodes(nodes: number[]): string {
  const sorted = [...nodes].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function formatMemdev(list: Obj[]): string {
  let out = '';
  for (const m of list) {
    out += `memory backend: ${m['id']}\n  size:  ${m['size']}\n  merge: ${m['merge']}\n  dump: ${m['dump']}\n`
      + `  prealloc: ${m['prealloc']}\n  share: ${m['share']}\n`;
    if (m['reserve'] !== undefined) out += `  reserve: ${m['reserve']}\n`;
    out += `  policy: ${m['policy']}\n  host nodes: ${hostNodes(m['host-nodes'])}\n`;
  }
  return out + '\n';
}

export function formatMemorySizeSummary(m: Obj): string {
  let out = `base memory: ${u64(m['base-memory'])}\n`;
  if (m['plugged-memory'] !== undefined) out += `plugged memory: ${u64(m['plugged-memory'])}\n`;
  return out;
}

export function formatPci(buses: Obj[]): string {
  let out = '';
  for (const bus of buses) {
    for (const d of bus['devices']) {
      out += `  Bus ${String(d['bus']).padStart(2)}, device ${String(d['slot']).padStart(3)}, function ${d['function']}:\n    `;
      const ci = d['class_info'];
      out += ci['desc'] !== undefined ? ci['desc'] : `Class ${String(ci['class']).padStart(4, '0')}`;
      out += `: PCI device ${hex(d['id']['vendor'], 4)}:${hex(d['id']['device'], 4)}\n`;
      if (d['id']['subsystem-vendor'] !== undefined && d['id']['subsystem'] !== undefined) {
        out += `      PCI subsystem ${hex(d['id']['subsystem-vendor'], 4)}:${hex(d['id']['subsystem'], 4)}\n`;
      }
      if (d['irq'] !== undefined) out += `      IRQ ${d['irq']}, pin ${String.fromCharCode(0x40 + d['irq_pin'])}\n`;
      for (const r of d['regions']) {
        const last = u64(u64(r['address']) + u64(r['size']) - 1n);
        out += `      BAR${r['bar']}: `;
        out += r['type'] === 'io'
          ? `I/O at 0x${hex(r['address'], 4)} [0x${hex(last, 4)}].\n`
          : `${r['mem_type_64'] ? 64 : 32} bit${r['prefetch'] ? ' prefetchable' : ''} memory at 0x${hex(r['address'], 8)} [0x${hex(last, 8)}].\n`;
      }
      out += `      id "${d['qdev_id']}"\n`;
    }
  }
  return out;
}

export function formatChardev(list: Obj[]): string {
  return list.map((c) => `${c['label']}: filename=${c['filename']}\n`).join('');
}
