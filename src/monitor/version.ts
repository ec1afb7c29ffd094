/**
 * What pmemvm reports as its QEMU version. It speaks QEMU 7.2's monitor, so it says 7.2.0,
 * with pmemvm and its own version as the "package" (QEMU's --with-pkgversion slot).
 * A unit test keeps PMEMVM_VERSION equal to package.json's version (bundled code cannot
 * read package.json by a relative path).
 */
export const PMEMVM_VERSION = '0.1.0';
export const QEMU_VERSION = { major: 7, minor: 2, micro: 0 } as const;
export const PACKAGE = `pmemvm ${PMEMVM_VERSION}`;
