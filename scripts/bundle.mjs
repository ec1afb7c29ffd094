// Bundles the compiled CLI and its two worker entries into dist/bundle/, one file each.
// Node loads one module far faster than the ~80 of dist/src (seconds under emulation);
// the workers sit beside main.js, so the relative URLs that start them hold in both layouts.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
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
  format: 'esm',
  external: ['koffi'],
  logLevel: 'warning',
});
