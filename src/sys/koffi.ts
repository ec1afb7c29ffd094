/**
 * koffi, for the rest of src/sys. Its own loader (the koffi package's index.cjs) finds the
 * native module by probing paths, reading ELF headers and package.json files through Node's
 * resolver, and loads node:module and node:util on the way: about a quarter of a second of
 * every start in the test host. The bundle records where the native module was at build time
 * (scripts/bundle.mjs), and pmemvm loads that file directly. Without the record (the
 * unbundled dist/src), or if the file is gone or of another version, koffi's loader does.
 */
import { fileURLToPath } from 'node:url';

type Koffi = typeof import('koffi');
declare const __pmemvm_koffi: { path: string; version: string } | undefined;

function loadKoffi(): Koffi {
  if (typeof __pmemvm_koffi !== 'undefined') {
    try {
      const m = { exports: {} as Koffi & { version?: string } };
      process.dlopen(m, fileURLToPath(new URL(__pmemvm_koffi.path, import.meta.url)));
      if (m.exports.version === __pmemvm_koffi.version) return m.exports;
    } catch { /* koffi's loader below */ }
  }
  const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);
  return require('koffi') as Koffi;
}

export const koffi = loadKoffi();
