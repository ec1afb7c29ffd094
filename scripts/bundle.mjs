// Bundles the compiled CLI and its two worker entries into dist/bundle/, one file each.
// Node loads one module far faster than the ~80 of dist/src (seconds under emulation);
// the workers sit beside main.js, so the relative URLs that start them hold in both layouts.
// CommonJS, not ES modules: Node reads an ES module through libuv's thread pool, which then
// starts all of its threads, and they stay; require() reads synchronously, so pmemvm starts
// that pool only if it ever needs it (bin/pmemvm.cjs). The source's one ES-module-only name,
// import.meta.url (worker URLs, koffi's require), becomes the bundle's own file URL.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
// The native module koffi's own loader picks on this machine, and its version: the bundle loads
// that file directly (src/sys/koffi.ts), as a path relative to the bundle.
const require = createRequire(import.meta.url);
const koffiVersion = require('koffi').version;
const native = Object.keys(require.cache).find((f) => f.endsWith('.node'));
if (!native) throw new Error('bundle: koffi loaded no native module');
const koffiRecord = { path: relative(`${dist}bundle`, native), version: koffiVersion };
await build({
  entryPoints: {
    main: `${dist}src/cli/main.js`,
    'vcpu-worker': `${dist}src/kvm/vcpu-worker.js`,
    'pmem-worker': `${dist}src/devices/virtio/pmem-worker.js`,
  },
  outdir: `${dist}bundle`,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  define: { 'import.meta.url': '__pmemvm_bundle_url', __pmemvm_koffi: JSON.stringify(koffiRecord) },
  // "use strict" first: ES modules were strict, and a directive after the banner would not count.
  banner: { js: "'use strict';\nvar __pmemvm_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  external: ['koffi'],
  logLevel: 'warning',
});
// main.js carries the CommonJS wrapper that bin/pmemvm.cjs compiles it in: a wrapper added there
// made the source a concatenation, which V8 flattened into a copy (fresh pages, cleared one by
// one under emulation: bench/RESULTS.md, session 33). ASCII only (esbuild's default charset), so
// that bin/ reads it as latin1, one byte a character, with no UTF-8 decoding.
const main = `${dist}bundle/main.js`;
const code = readFileSync(main, 'latin1');
if (/[^\x00-\x7f]/.test(code)) throw new Error('bundle: main.js is not ASCII; bin/pmemvm.cjs reads it as latin1');
writeFileSync(main, `(function (exports, require, module, __filename, __dirname) {${code}\n})`, 'latin1');
// The package is "type": "module"; these .js files are CommonJS.
writeFileSync(`${dist}bundle/package.json`, '{ "type": "commonjs" }\n');
// The old bundle's code cache (bin/pmemvm.cjs): useless now, and the next run makes a new one.
rmSync(`${dist}bundle/main.js.v8cache`, { force: true });
