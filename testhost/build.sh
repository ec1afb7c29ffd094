#!/bin/bash
# Builds the test host (L1) image: Debian kernel + a busybox initramfs with kvm_amd,
# 9p, virtio-console, the persistent-memory stack (nfit, nd_pmem, device DAX) and
# ext4/virtio-blk (the chroot's /lib/modules is this machine's, not the L1 kernel's), into ${PMEMVM_CACHE:-~/.cache/pmemvm}/testhost-<kver>-<hash>/
# {bzImage,vmlinux,initrd.img}, and points ${cache}/testhost at it. Cached by recipe hash.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../guest/common.sh"

MODULES="kvm kvm_amd 9p 9pnet_virtio virtio_pci virtio_console nfit nd_pmem nd_btt dax_pmem device_dax ext4 virtio_blk dm_flakey"
PKG=$(kernel_pkg); VER=${PKG#linux-image-}
OUT=$CACHE/testhost-$VER-$(recipe_hash "$MODULES" "$HERE/build.sh" "$HERE/init" "$HERE/../guest/common.sh")

if [ ! -f "$OUT/.done" ]; then
  t0=$(date +%s.%N)
  KROOT=$(kernel_tree "$PKG")
  rm -rf "$OUT"; mkdir -p "$OUT"
  STAGE=$(mktemp -d "$CACHE/stage.XXXXXX"); trap 'rm -rf "$STAGE"' EXIT
  stage_skeleton "$STAGE"
  mkdir -p "$STAGE/host"
  stage_busybox "$STAGE"
  stage_modules "$KROOT" "$VER" "$STAGE" $MODULES
  install -m 755 "$HERE/init" "$STAGE/init"
  make_cpio "$STAGE" "$OUT/initrd.img" none   # TCG decompression is slow; 9p does the rest
  cp "$KROOT/boot/vmlinuz-$VER" "$OUT/bzImage"
  extract_vmlinux "$OUT/bzImage" "$OUT/vmlinux"
  touch "$OUT/.done"
  log "built $OUT in $(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
fi
publish_image testhost "$OUT"
