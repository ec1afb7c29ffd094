#!/usr/bin/env node
// pmemvm entry: runs the bundled CLI (npm run build makes dist/), or the unbundled one.
import { existsSync } from 'node:fs';
const bundle = new URL('../dist/bundle/main.js', import.meta.url);
const main = existsSync(bundle) ? bundle : new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('pmemvm: not built yet; run `npm ci && npm run build` in ' + new URL('..', import.meta.url).pathname + '\n');
  process.exit(1);
}
await import(main.href);
