# Shared helpers for guest/build.sh and testhost/build.sh (sourced, not run).
# Everything comes from Debian packages; downloads and outputs live in the cache
# so a fresh clone only pays for them once per machine.

CACHE=${PMEMVM_CACHE:-$HOME/.cache/pmemvm}
DEBS=$CACHE/debs
mkdir -p "$DEBS"
# One build at a time per cache, held until the sourcing script exits: test hosts started side
# by side (the suite and the power-loss runs) each check their images, and two builds of the
# same image would tear each other's files down.
exec 9>>"$CACHE/.build.lock"
flock 9 2>/dev/null || true  # without flock(1) or file locks: no protection, nothing worse

log() { echo "[$(basename "$0" .sh)] $*" >&2; }

# The kernel package linux-image-amd64 points at right now (e.g. linux-image-6.1.0-56-amd64).
kernel_pkg() {
  local p stamp memo=$CACHE/kernel-pkg
  # apt-cache takes ~1 s: remember its answer until the apt lists change.
  stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
  if [ -f "$memo" ] && [ "$(head -1 "$memo")" = "$stamp" ]; then sed -n 2p "$memo"; return; fi
  p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$p" ]; then
    # apt lists may be missing on a fresh machine: refresh once and retry.
    apt-get update -qq >&2 || true
    p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$p" ] || { log "cannot resolve linux-image-amd64 (apt-get update?)"; return 1; }
  stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
  printf '%s\n%s\n' "$stamp" "$p" >"$memo.$$" && mv "$memo.$$" "$memo"
  echo "$p"
}

# Download (cached) and unpack the kernel .deb; prints the unpacked root.
# The tree gets its own modules.dep (depmod -b) and is never installed on the host.
kernel_tree() {
  local pkg=$1 ver=${1#linux-image-} root=$CACHE/kernel/$1
  if [ ! -f "$root/.done" ]; then
    ls "$DEBS/${pkg}"_*.deb >/dev/null 2>&1 || (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    rm -rf "$root"; mkdir -p "$root"
    dpkg-deb -x "$(ls "$DEBS/${pkg}"_*.deb | tail -1)" "$root"
    depmod -b "$root" "$ver"
    touch "$root/.done"
  fi
  echo "$root"
}

# Short hash of the given files + extra words: names the output dir so any recipe change rebuilds.
recipe_hash() {
  local extra=$1; shift
  { cat "$@"; echo "$extra"; } | sha256sum | cut -c1-12
}

# Copy modules (+ dependencies from modules.dep) into the staging root and index them.
# Host /etc/modprobe.d is ignored (-C /dev/null): ndctl's "install" hook would hide libnvdimm.
stage_modules() {
  local kroot=$1 ver=$2 stage=$3; shift 3
  local m f rel dst=$stage/lib/modules/$ver
  mkdir -p "$dst"
  for m in "$@"; do
    modprobe -C /dev/null -d "$kroot" -S "$ver" --show-depends "$m" | while read -r kind f _; do
      [ "$kind" = insmod ] || continue
      rel=${f#"$kroot"/lib/modules/"$ver"/}
      mkdir -p "$dst/$(dirname "$rel")"; cp -f "$f" "$dst/$rel"
    done
  done
  cp "$kroot/lib/modules/$ver"/modules.builtin* "$kroot/lib/modules/$ver/modules.order" "$dst/"
  depmod -b "$stage" "$ver"
}

# busybox-static with one symlink per applet (the host's busybox-static package).
stage_busybox() {
  local stage=$1 bb a
  bb=$(command -v busybox); file -L "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox
  mkdir -p "$stage/bin" "$stage/sbin" "$stage/usr/bin" "$stage/usr/sbin"
  cp "$bb" "$stage/bin/busybox"
  for a in $("$stage/bin/busybox" --list-full); do
    [ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
  done
}

# A binary plus every library ldd lists (and the loader), at the same paths.
stage_binary() {
  local stage=$1 bin=$2 lib
  mkdir -p "$stage$(dirname "$bin")"; cp -L "$bin" "$stage$bin"
  for lib in $(ldd "$bin" | grep -oE '/[^ ]+'); do
    mkdir -p "$stage$(dirname "$lib")"; cp -L "$lib" "$stage$lib"
  done
}

# Skeleton dirs and a /dev/console node (the kernel opens it before /init runs).
stage_skeleton() {
  local stage=$1
  mkdir -p "$stage"/{proc,sys,dev,tmp,run,etc,root,mnt}
  mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
  mknod -m 666 "$stage/dev/null" c 1 3 2>/dev/null || true
}

# newc cpio of the staging dir; $2 = output, $3 = gzip|none.
make_cpio() {
  local stage=$1 out=$2 comp=${3:-none}
  if [ "$comp" = gzip ]; then
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6 >"$out.tmp")
  else
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 >"$out.tmp")
  fi
  mv "$out.tmp" "$out"
}

# Uncompressed ELF vmlinux from a bzImage: the setup header holds setup_sects (0x1f1),
# payload_offset (0x248) and payload_length (0x24c); the payload's magic says the codec.
extract_vmlinux() {
  local bz=$1 out=$2 sects off len start magic
  sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' '); [ "$sects" = 0 ] && sects=4
  off=$(od -An -tu4 -j $((0x248)) -N4 "$bz" | tr -d ' ')
  len=$(od -An -tu4 -j $((0x24c)) -N4 "$bz" | tr -d ' ')
  start=$(( (sects + 1) * 512 + off ))
  magic=$(od -An -tx1 -j "$start" -N6 "$bz" | tr -d ' \n')
  local dec
  case $magic in
    1f8b*) dec="gzip -dc" ;;
    fd377a585a00) dec="xz -dc" ;;
    28b52ffd*) dec="zstd -dc" ;;
    5d0000*) dec="xz -dc --format=lzma" ;;
    894c5a4f*) dec="lzop -dc" ;;
    04224d18*|02214c18*) dec="lz4 -dc" ;;
    425a68*) dec="bzip2 -dc" ;;
    *) log "unknown kernel payload magic $magic"; return 1 ;;
  esac
  # The payload may carry trailing bytes (size field); decoders warn but output is complete.
  tail -c +$((start + 1)) "$bz" | head -c "$len" | $dec >"$out.tmp" 2>/dev/null || true
  [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || { log "vmlinux extraction failed ($dec)"; return 1; }
  mv "$out.tmp" "$out"
}

# Drop images of older recipes (each ~90 MB) unused for an hour (publish_image touches the one in use).
prune_old() {
  local prefix=$1 keep=$2
  find "$CACHE" -maxdepth 1 -name "$prefix-*" -type d ! -path "$keep" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
}

# Point ${CACHE}/<name> at the finished image dir $2 (atomically), drop stale siblings, print it.
publish_image() {
  local name=$1 out=$2
  touch "$out"   # mtime = last use: prune_old keeps images other runs are using
  prune_old "$name" "$out"
  ln -sfn "$(basename "$out")" "$CACHE/$name.tmp" && mv -T "$CACHE/$name.tmp" "$CACHE/$name"
  echo "$out"
}
