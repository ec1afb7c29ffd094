#!/usr/bin/env -S node --v8-pool-size=1
// pmemvm entry: runs the bundled CLI (npm run build makes dist/), or the unbundled one.
//
// Threads. Node's first line above gives V8 one background thread instead of four (concurrent
// marking for a heap of a few MiB; TurboFan is off, below); that needs a flag at launch, so
// `node bin/pmemvm.cjs` works too but keeps four. The bundle is CommonJS and this entry
// compiles it synchronously: Node reads an ES module through libuv's thread pool, which starts
// all of its threads and keeps them, while pmemvm itself needs that pool only for NVDIMM
// flush-hint fdatasyncs, host name lookups and a regular file on stdin. When it does start,
// it has two threads, unless UV_THREADPOOL_SIZE says otherwise. Device I/O has its own
// (pmem-io.ts). So a running pmemvm with one vCPU has four threads: the main one,
// V8's delayed-task thread and its one worker, and Node's inspector signal thread.
//
// Code cache. V8 compiles each function when it first runs; pmemvm runs a few hundred of them
// before its guest does, and more while the guest boots. The bytecode of every function
// compiled by the time pmemvm exits is kept beside the bundle (main.js.v8cache, as Python
// keeps __pycache__), and the next start takes it instead of compiling again. V8 refuses a
// cache made for another bundle, Node or flags, and pmemvm then makes a new one. A run that
// compiled more than the cache holds (a boot after `--version`) replaces it. Where dist/ is
// read-only, pmemvm runs without.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const root = path.join(__dirname, '..');
const bundle = path.join(root, 'dist/bundle/main.js');
const unbundled = path.join(root, 'dist/src/cli/main.js');
// Read when the pool starts, if it ever does (pmemvm starts no other programs).
process.env.UV_THREADPOOL_SIZE ??= '2';
// Node's modules that every run loads come first, under V8's default flags: Node compiles each
// of its modules with a code cache made under those, which V8 refuses once any flag is changed,
// and node:net (with node:diagnostics_channel and the performance observer it loads) and node:vm
// were compiled from source at every start (bench/RESULTS.md, session 34). node:v8's own load
// brings node:stream.
const v8 = require('node:v8');
const vm = require('node:vm');
require('node:net'); // the bundle's (src/sys/fd-watch.ts, src/monitor/)
// V8's tiers: TurboFan never runs. Its compiles run on V8's background thread at nice 19, on a
// test host whose one CPU the guest keeps busy, so the flush path stayed in the interpreter for
// seconds, and the compiles, their installation and the deoptimizations after them were the
// slowest flushes' extra milliseconds (bench/RESULTS.md, session 24). Once the machine's build
// begins, every function V8 runs is Sparkplug code from its first call, or from the end of its
// first call where its bytecode came from the code cache (set by src/machine/v8-tiers.ts and below).
// Baseline code makes a heap object of every number beyond 31 bits: the hot paths are written
// for that (README, "V8's tiers"). Set before the bundle is compiled, so its code cache is made
// and taken under the same flags; test/lib/v8-flags.ts reads them from here and from v8-tiers.ts.
v8.setFlagsFromString('--no-opt');
// Each function's feedback vector (and with it, once the machine's build has begun, its
// Sparkplug code) at the end of its first call, not after eight times its bytecode has run. A
// closure's budget for that is set when the closure is made, and the flush path's closures are
// made at start-up from the code cache's bytecode: with V8's factor of 8 they tiered up one at a
// time over the guest's first 100 to 600 ms of flushes, and those flushes were the cold tail
// (bench/RESULTS.md, session 29). Start-up code gets its inline caches sooner too.
v8.setFlagsFromString('--interrupt-budget-factor-for-feedback-allocation=0');
// No Sparkplug until the machine's build begins (src/machine/v8-tiers.ts turns it on): what runs
// before it runs once, and V8's batches compiled all of it that had run, 0.29 s of the test
// host's 2.7 s to KVM_RUN, nearly half of it clearing the fresh pages that baseline code is
// written to (perf, bench/RESULTS.md, session 33).
v8.setFlagsFromString('--no-sparkplug');
if (fs.existsSync(bundle)) runWithCodeCache(bundle);
else if (fs.existsSync(unbundled)) void import(pathToFileURL(unbundled).href);
else {
  process.stderr.write(`pmemvm: not built yet; run \`npm ci && npm run build\` in ${root}\n`);
  process.exit(1);
}

/** Run the CommonJS bundle `file` as require() would, its code cache taken and kept (above). */
function runWithCodeCache(file) {
  const cacheFile = `${file}.v8cache`;
  const debug = process.env.PMEMVM_DEBUG ? (m) => process.stderr.write(`pmemvm: debug: code cache: ${m}\n`) : () => {};
  // V8 checks the cache against the source's length only: the file starts with a line naming
  // the bundle it was made from, so that a rebuilt bundle of the same length never runs
  // another's bytecode. Its size and its times to the nanosecond, as Python's __pycache__
  // (which trusts size and mtime): a rewrite always moves ctime, which no one can set back.
  // Not a hash of the source: node:crypto and SHA-256 took a third of pmemvm's start-up on the
  // test host (bench/RESULTS.md, session 25).
  // Padded to 8 bytes, so that the cache data after it is aligned as V8 wants it (else V8
  // copies it first: fresh pages, costly under emulation, bench/RESULTS.md, session 33).
  const st = fs.statSync(file, { bigint: true });
  const line = `pmemvm-v8cache size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs}`;
  const header = Buffer.from(`${line.padEnd(Math.ceil((line.length + 1) / 8) * 8 - 1)}\n`);
  // The bundle is its own CommonJS wrapper, in ASCII (scripts/bundle.mjs): read as it is.
  const source = fs.readFileSync(file, 'latin1');
  let cached;
  try {
    const f = fs.readFileSync(cacheFile);
    cached = f.subarray(0, header.length).equals(header) ? f.subarray(header.length) : null;
  } catch { /* none yet */ }
  const script = new vm.Script(source, { filename: file, cachedData: cached ?? undefined });
  const used = !!cached && !script.cachedDataRejected;
  debug(cached === undefined ? 'none yet' : cached === null ? 'made for another bundle' : used ? `used (${cached.length} bytes)` : 'refused by V8 (another Node or flags)');
  // Its length only, for the exit: a hook that held the file's bytes kept them (0.5 MiB or
  // more) for the whole run (bench/RESULTS.md, session 35).
  const usedLength = used ? cached.length : 0;
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      // Under the flags it was compiled with: V8 refuses a cache made under others. Those
      // src/machine/v8-tiers.ts set when the machine's build began go back as they were.
      const restore = globalThis[Symbol.for('pmemvm.v8-flags-to-restore')];
      if (typeof restore === 'string') v8.setFlagsFromString(restore);
      const data = script.createCachedData();
      if (used && data.length < usedLength * 1.1) return; // nothing much new: keep it
      fs.writeFileSync(tmp, Buffer.concat([header, data]));
      fs.renameSync(tmp, cacheFile); // whole or not at all, for a pmemvm starting meanwhile
      debug(`written (${data.length} bytes)`);
    } catch {
      // A read-only install, a full disk: the next start compiles again.
      try { fs.unlinkSync(tmp); } catch { /* never written */ }
    }
  });
  const mod = { exports: {} };
  // This file's own require, not node:module's createRequire(file) (a load of its own): the
  // bundle requires only Node's modules, and koffi where it cannot load koffi's native module
  // itself (src/sys/koffi.ts); bin/ and dist/bundle/ find the same node_modules.
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, path.dirname(file));
}
