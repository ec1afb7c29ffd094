#!/bin/bash
# Builds the pmemvm guest image (Debian kernel + busybox/ndctl initramfs) into
#   ${PMEMVM_CACHE:-~/.cache/pmemvm}/guest-<kver>-<recipe hash>/{bzImage,vmlinux,initrd.img}
# and points ${cache}/guest at it. Cached: a rerun with an unchanged recipe is a no-op.
# INITRD_COMP=gzip|none picks the initrd compression (gzip: 12 MB plain vs 5 MB gzip, gzip boots ~2.5 s faster under L2: fw_cfg copying costs more than inflating).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
COMP=${INITRD_COMP:-gzip}

# button: the ACPI power button (PNP0C0C) the GED notifies; evdev: /dev/input/event* to read it;
# cpuid: /dev/cpu/N/cpuid, for tests that compare the CPU a guest sees with QEMU's (not loaded by init).
MODULES="nfit libnvdimm nd_pmem nd_btt dax device_dax dax_pmem virtio_pci virtio_pmem ext4 button evdev cpuid"
PKG=$(kernel_pkg); VER=${PKG#linux-image-}
OUT=$CACHE/guest-$VER-$(recipe_hash "$COMP $MODULES" "$HERE/build.sh" "$HERE/common.sh" "$HERE/init")

if [ ! -f "$OUT/.done" ]; then
  t0=$(date +%s.%N)
  KROOT=$(kernel_tree "$PKG")
  rm -rf "$OUT"; mkdir -p "$OUT"
  STAGE=$(mktemp -d "$CACHE/stage.XXXXXX"); trap 'rm -rf "$STAGE"' EXIT
  stage_skeleton "$STAGE"
  stage_busybox "$STAGE"
  stage_modules "$KROOT" "$VER" "$STAGE" $MODULES
  stage_binary "$STAGE" "$(command -v ndctl)"
  stage_binary "$STAGE" "$(command -v daxctl)"
  install -m 755 "$HERE/init" "$STAGE/init"
  make_cpio "$STAGE" "$OUT/initrd.img" "$COMP"
  cp "$KROOT/boot/vmlinuz-$VER" "$OUT/bzImage"
  extract_vmlinux "$OUT/bzImage" "$OUT/vmlinux"
  touch "$OUT/.done"
  log "built $OUT in $(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
fi
publish_image guest "$OUT"
