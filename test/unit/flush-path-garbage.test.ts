// pmemvm's code runs unoptimized while the guest runs (Sparkplug, no TurboFan), where a number that
// is not a small integer is a new heap object at every step, and garbage on the flush path means
// scavenges inside the guest's flushes. What one virtio-pmem request costs on the parts that
// are pure (the queue as the transport publishes it, guest memory, the split ring), measured in
// a child node with pmemvm's V8 flags and a young generation too large to be collected meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pmemvmNodeArgs } from '../../testhost/paths.js';
import { GUEST_TIME_V8_FLAG } from '../../src/machine/v8-tiers.js';

const at = (rel: string) => new URL(rel, import.meta.url).href;

/**
 * The V8 flags pmemvm's flush path runs under, read from their sources so that this test
 * follows them: those bin/pmemvm.cjs sets at start (its unindented lines), and the one set when
 * the guest starts (src/machine/v8-tiers.ts).
 */
function pmemvmV8Flags(): string[] {
  const bin = pmemvmNodeArgs().at(-1)!;
  const flags = [...readFileSync(bin, 'utf8').matchAll(/^require\('node:v8'\)\.setFlagsFromString\('([^']+)'\);$/gm)].map((m) => m[1]!);
  assert.ok(flags.length > 0, `${bin} sets V8 flags`);
  return [...flags, GUEST_TIME_V8_FLAG];
}

// A flush request as Linux makes it (a 4-byte type, then a 4-byte status), written without
// garbage of its own; then what the server does with it: pop, read the type, answer, push.
const CHILD = `
import * as libc from '${at('../../src/sys/libc.js')}';
import { GuestMemory } from '${at('../../src/memory/guest-memory.js')}';
import { VirtioShared } from '${at('../../src/devices/virtio/shared.js')}';
import { SplitQueue } from '${at('../../src/devices/virtio/queue.js')}';
const RAM = 0x100000, SIZE = 0x10000, QSIZE = 16;
const DESC = RAM + 0x1000, AVAIL = RAM + 0x2000, USED = RAM + 0x3000, REQ = RAM + 0x4000;
const host = libc.mmap(SIZE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS);
const mem = new GuestMemory();
mem.add('ram', RAM, SIZE, host);
const ram = new DataView(libc.view(host, SIZE)); // the guest's side: writes that leave no garbage whatever pmemvm's code does
const shared = new VirtioShared(1, 2);
shared.locked(() => shared.publishQueue(0, { size: QSIZE, desc: DESC, avail: AVAIL, used: USED }));
const layout = shared.locked(() => shared.queue(0)); // the addresses as the server gets them
const q = new SplitQueue(mem, layout.size, layout.desc, layout.avail, layout.used);
let avail = 0;
function desc(i, addr, flags, next) {
  const d = DESC - RAM + 16 * i;
  ram.setUint32(d, addr, true); ram.setUint32(d + 4, 0, true); ram.setUint32(d + 8, 4, true); ram.setUint16(d + 12, flags, true); ram.setUint16(d + 14, next, true);
}
/** Offer the next request (publish: false writes it all but the available index, which offers it). */
function request(publish = true) {
  const head = (2 * avail) % QSIZE;
  desc(head, REQ + 8 * head, 1, head + 1);
  desc(head + 1, REQ + 8 * head + 4, 2, 0);
  ram.setUint16(AVAIL - RAM + 4 + 2 * (avail % QSIZE), head, true);
  if (!publish) return;
  avail = (avail + 1) & 0xffff;
  ram.setUint16(AVAIL - RAM + 2, avail, true);
}
function serve() {
  const c = q.pop();
  const type = mem.u32(c.readable[0].addr);
  const used = q.nextUsed();
  mem.setU32(c.writable[0].addr, type);
  q.push(c.head, 4);
  return used.newIdx + mem.u64(DESC + 16 * c.head) - c.readable[0].addr;
}
const N = 4000;
let check = 0;
for (let i = 0; i < 200; i++) { request(); check += serve(); }
const h0 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) request(false);
const h1 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) { request(); check += serve(); }
const h2 = process.memoryUsage().heapUsed;
console.log(JSON.stringify({ request: (h1 - h0) / N, serve: (h2 - h1) / N - (h1 - h0) / N, check }));
`;

test('a virtio-pmem request, unoptimized: the queue\'s walk and answer through guest memory leave at most 600 bytes of garbage (the chain and a used-ring position), whatever the rings\' addresses went through', () => {
  const flags = [...pmemvmV8Flags(), '--min-semi-space-size=64', '--max-semi-space-size=64'];
  const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', CHILD], { encoding: 'utf8' });
  const r = JSON.parse(out) as { request: number; serve: number; check: number };
  assert.ok(Number.isFinite(r.check));
  assert.ok(r.request <= 16, `writing a request made ${r.request} bytes of garbage: the measure is off`);
  assert.ok(r.serve <= 600, `serving a request made ${r.serve} bytes of garbage (flags ${flags.join(' ')})`);
  console.log(`${Math.round(r.serve)} bytes of garbage per request served`);
});
