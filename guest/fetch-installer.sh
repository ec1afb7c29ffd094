#!/bin/bash
# Fetches a kernel and initramfs that pmemvm did not build: Debian 12's netboot installer
# (text frontend), from the distribution's own package, into
# ${PMEMVM_CACHE:-~/.cache/pmemvm}/debian-installer-<version>/{linux,initrd.gz}, and points
# ${cache}/debian-installer at it. Cached by package version.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

PKG=debian-installer-12-netboot-amd64
version() { apt-cache show "$PKG" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
VER=$(version)
if [ -z "$VER" ]; then # fresh machine: no package lists yet
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  VER=$(version)
fi
[ -n "$VER" ] || { log "cannot find $PKG in Debian's package lists"; exit 1; }
OUT=$CACHE/debian-installer-$VER
if [ ! -f "$OUT/.done" ]; then
  STAGE=$(mktemp -d "$CACHE/stage.XXXXXX"); trap 'rm -rf "$STAGE"' EXIT
  (cd "$STAGE" && apt-get download -q "$PKG" >/dev/null 2>&1)
  dpkg-deb --fsys-tarfile "$STAGE"/*.deb | tar -x -C "$STAGE" \
    ./usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/linux \
    ./usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/initrd.gz
  rm -rf "$OUT"; mkdir -p "$OUT"
  mv "$STAGE"/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/{linux,initrd.gz} "$OUT/"
  touch "$OUT/.done"
  log "fetched $PKG $VER into $OUT"
fi
publish_image debian-installer "$OUT"
