/**
 * The replies and arguments of the commands pmemvm serves, as QEMU 7.2's QAPI schema names
 * them on the wire: QmpClient.execute('query-status') is typed by this map. Integers that
 * may pass 2^53 (addresses, sizes) are number | bigint, as the client parses them.
 */
import type { RunState } from './machine-control.js';

type Int = number | bigint;
type Empty = Record<string, never>;

export interface QmpStatusInfo { running: boolean; singlestep: boolean; status: RunState }
export interface QmpVersionInfo { qemu: { major: number; minor: number; micro: number }; package: string }
export interface QmpCpuInfoFast {
  'cpu-index': number; 'qom-path': string; 'thread-id': number; target: string;
  props: { 'node-id'?: number; 'socket-id'?: number; 'die-id'?: number; 'core-id'?: number; 'thread-id'?: number };
}
export type QmpMemoryDeviceInfo =
  | { type: 'nvdimm' | 'dimm'; data: { id?: string; addr: Int; size: Int; slot: number; node: number; memdev: string; hotplugged: boolean; hotpluggable: boolean } }
  | { type: 'virtio-pmem'; data: { id?: string; memaddr: Int; size: Int; memdev: string } };
export interface QmpMemdev {
  id?: string; size: Int; merge: boolean; dump: boolean; prealloc: boolean; share: boolean; reserve?: boolean;
  'host-nodes': number[]; policy: string;
}
export interface QmpPciDevice {
  bus: number; slot: number; function: number; class_info: { desc?: string; class: number };
  id: { device: number; vendor: number; subsystem?: number; 'subsystem-vendor'?: number };
  irq?: number; irq_pin: number; qdev_id: string;
  regions: { bar: number; type: string; address: Int; size: Int; prefetch?: boolean; mem_type_64?: boolean }[];
}
export interface QmpDurabilityEntry {
  device: string; driver: string; slot?: number; addr: Int; size: Int; backend: string; path?: string;
  'crash-safe': boolean; mode: string; reason: string;
}

/** Command name → [arguments, reply]. */
export interface QmpCommandMap {
  'qmp_capabilities': [{ enable?: string[] } | undefined, Empty];
  'query-version': [undefined, QmpVersionInfo];
  'query-commands': [undefined, { name: string }[]];
  'query-status': [undefined, QmpStatusInfo];
  'query-name': [undefined, { name?: string }];
  'query-kvm': [undefined, { enabled: boolean; present: boolean }];
  'query-cpus-fast': [undefined, QmpCpuInfoFast[]];
  'query-memory-size-summary': [undefined, { 'base-memory': Int; 'plugged-memory'?: Int }];
  'query-memory-devices': [undefined, QmpMemoryDeviceInfo[]];
  'query-memdev': [undefined, QmpMemdev[]];
  'query-pci': [undefined, { bus: number; devices: QmpPciDevice[] }[]];
  'query-chardev': [undefined, { label: string; filename: string; 'frontend-open': boolean }[]];
  'chardev-send-break': [{ id: string }, Empty];
  'stop': [undefined, Empty];
  'cont': [undefined, Empty];
  'system_reset': [undefined, Empty];
  'system_powerdown': [undefined, Empty];
  'quit': [undefined, Empty];
  'human-monitor-command': [{ 'command-line': string; 'cpu-index'?: number }, string];
  /** Flat, as QEMU 7.2: the backend's own properties beside qom-type and id. */
  'object-add': [{ 'qom-type': string; id: string; [prop: string]: unknown }, Empty];
  'object-del': [{ id: string }, Empty];
  'device_add': [{ driver: string; id?: string; [prop: string]: unknown }, Empty];
  'device_del': [{ id: string }, Empty];
  'x-pmemvm-query-durability': [undefined, QmpDurabilityEntry[]];
}
export type QmpCommandName = keyof QmpCommandMap;
