#!/usr/bin/env -S node --v8-pool-size=1
// pmemvm entry: runs the bundled CLI (npm run build makes dist/), or the unbundled one.
//
// Threads. Node's first line above gives V8 one background thread instead of four (TurboFan
// compiles and concurrent marking for a heap of a few MiB); that needs a flag at launch, so
// `node bin/pmemvm.cjs` works too but keeps four. The bundle is CommonJS and this entry
// require()s it: Node reads an ES module through libuv's thread pool, which starts all of its
// threads and keeps them, while pmemvm itself needs that pool only for NVDIMM flush-hint
// fdatasyncs, host name lookups and a regular file (or /dev/null) on stdin. When it does
// start, it has two threads, unless UV_THREADPOOL_SIZE says otherwise. Device I/O has its own
// (pmem-io.ts). So a running pmemvm with one vCPU has four threads: the main one, V8's
// delayed-task thread and its one worker, and Node's inspector signal thread.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const root = join(__dirname, '..');
const bundle = join(root, 'dist/bundle/main.js');
const unbundled = join(root, 'dist/src/cli/main.js');
// Read when the pool starts, if it ever does (pmemvm starts no other programs).
process.env.UV_THREADPOOL_SIZE ??= '2';
if (existsSync(bundle)) require(bundle);
else if (existsSync(unbundled)) void import(pathToFileURL(unbundled).href);
else {
  process.stderr.write(`pmemvm: not built yet; run \`npm ci && npm run build\` in ${root}\n`);
  process.exit(1);
}
