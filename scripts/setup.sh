#!/bin/bash
# Idempotent setup for `npm start` / `npm test` on a fresh Debian 12 machine with
# Node 20: Debian packages (only if missing), npm dependencies, the TypeScript
# build, and the guest and test-host images (cached in ~/.cache/pmemvm).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for c in qemu-system-x86_64:qemu-system-x86 iasl:acpica-tools busybox:busybox-static ndctl:ndctl \
         daxctl:daxctl cpio:cpio xz:xz-utils zstd:zstd depmod:kmod file:file strace:strace \
         mkfs.ext4:e2fsprogs debugfs:e2fsprogs; do
  command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p . && node scripts/bundle.mjs
bash guest/build.sh >/dev/null
bash testhost/build.sh >/dev/null
bash guest/fetch-installer.sh >/dev/null
