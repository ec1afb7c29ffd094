#!/usr/bin/env node
// pmemvm entry: runs the bundled CLI (npm run build makes dist/), or the unbundled one.
// CommonJS on purpose: Node reads an ES module entry through libuv's thread pool, which starts
// all of its threads (4 by default) before any of pmemvm's code runs. pmemvm sizes the pool for
// what it uses it for (vCPU 0's NVDIMM flush-hint fsyncs, host name lookups, module loading):
// two threads, unless UV_THREADPOOL_SIZE says otherwise. Device I/O has its own (pmem-io.ts).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const root = join(__dirname, '..');
const bundle = join(root, 'dist/bundle/main.js');
const main = existsSync(bundle) ? bundle : join(root, 'dist/src/cli/main.js');
if (!existsSync(main)) {
  process.stderr.write(`pmemvm: not built yet; run \`npm ci && npm run build\` in ${root}\n`);
  process.exit(1);
}
// Read when the pool starts, with this import (pmemvm starts no other programs).
process.env.UV_THREADPOOL_SIZE ??= '2';
void import(pathToFileURL(main).href);
