#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# One command for the static arm64 offsetprobe, from Debian's packages only:
#
#   scripts/cross/arm64.sh            # -> build-arm64/offsetprobe/offsetprobe
#
# 1. Debian's cross compilers (gcc/g++-aarch64-linux-gnu; their libc and
#    kernel headers come as libc6-dev-arm64-cross, linux-libc-dev-arm64-cross)
#    from the machine's own apt, installed when missing.
# 2. The arm64 -dev packages offsetprobe links (libbpf, libelf, zlib, zstd,
#    Boost.Filesystem, and the header-only nlohmann-json and CLI11), downloaded
#    with a private apt configuration (-o APT::Architecture=arm64, its own
#    sources, state and cache under $OFFSETPROBE_CROSS_CACHE) and unpacked with
#    `dpkg-deb -x` into ./build-arm64-sysroot. The machine's apt sources and
#    dpkg architectures are never read for them or changed.
# 3. meson with cross/arm64.ini (which points at that sysroot) and
#    -Dstatic_binary=true -Dbcc=disabled -Dtests=false, then ninja.
#
# The packages are bookworm's, the suite the host builds with, so the arm64
# libbpf is the same release as the host's bpftool that writes the skeletons.
# Exit status: 0 built; 3 set-up (packages, download, build) failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
log() { echo "cross-arm64: $*" >&2; }
die() { echo "cross-arm64: $1" >&2; exit 3; }

setup=1
builddir=$repo/build-arm64
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=0; shift ;;
    -o) builddir=${2:?-o needs a directory}; shift 2 ;;
    -h|--help) sed -n '3,22p' "$0"; echo "options: --no-setup (no apt-get install on the host), -o BUILDDIR"; exit 0 ;;
    *) echo "cross-arm64: unknown argument $1" >&2; exit 2 ;;
  esac
done

# --- host: cross compilers ------------------------------------------------------
need=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross
      debian-archive-keyring clang bpftool meson ninja-build pkg-config)
if [ "$setup" = 1 ]; then
  missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "could not install ${missing[*]}"
  fi
fi
command -v aarch64-linux-gnu-g++ >/dev/null || die "aarch64-linux-gnu-g++ is needed (apt-get install g++-aarch64-linux-gnu)"

# --- private apt for arm64 (bookworm) ----------------------------------------------
# Same scheme as scripts/matrix/run.sh: everything apt reads or writes is under
# $A; APT_CONFIG keeps the host's apt.conf.d out.
cache=${OFFSETPROBE_CROSS_CACHE:-$HOME/.cache/offsetprobe-cross}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring missing (apt-get install debian-archive-keyring)"
A=$cache/apt-arm64
mkdir -p "$A/etc/apt.conf.d" "$A/etc/sources.list.d" "$A/etc/preferences.d" \
         "$A/state/lists/partial" "$A/cache/archives/partial" "$cache/debs-arm64"
touch "$A/state/status" "$A/etc/preferences"
cat >"$A/etc/sources.list" <<EOS
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm-updates main
deb [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
EOS
cat >"$A/apt.conf" <<EOS
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$A/etc/apt.conf.d";
EOS
export APT_CONFIG=$A/apt.conf
apt_opts=(
  -o "Dir::State=$A/state" -o "Dir::State::status=$A/state/status"
  -o "Dir::Cache=$A/cache" -o "Dir::Etc::sourcelist=$A/etc/sources.list"
  -o "Dir::Etc::sourceparts=$A/etc/sources.list.d"
  -o "Dir::Etc::preferences=$A/etc/preferences" -o "Dir::Etc::preferencesparts=$A/etc/preferences.d"
  -o "Dir::Etc::trusted=$keyring" -o "Dir::Etc::trustedparts=$A/etc/trusted.gpg.d"
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Acquire::Languages=none
  -o APT::Sandbox::User=root -o Debug::NoLocking=1
)
if [ -z "$(find "$A/state/updated" -mmin -1440 2>/dev/null)" ]; then
  apt-get "${apt_opts[@]}" -q update >"$A/update.log" 2>&1 || { cat "$A/update.log" >&2; die "apt-get update (private, arm64) failed"; }
  touch "$A/state/updated"
fi

# What the static link needs (meson.build): the .a files and headers. Runtime
# library packages are not needed for a static binary.
pkgs=(libbpf-dev libelf-dev zlib1g-dev libzstd-dev libboost-filesystem1.74-dev libboost1.74-dev
      nlohmann-json3-dev libcli11-dev)
sysroot=$repo/build-arm64-sysroot
stamp=$sysroot/.packages
want=$(for p in "${pkgs[@]}"; do
  v=$(apt-cache "${apt_opts[@]}" policy "$p" | sed -n 's/^ *Candidate: //p')
  [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "MISSING $p"; continue; }
  echo "$p $v"
done)
grep -q '^MISSING' <<<"$want" && die "not in the arm64 indexes: $(grep '^MISSING' <<<"$want" | cut -d' ' -f2 | tr '\n' ' ')"
if ! cmp -s <(echo "$want") "$stamp" 2>/dev/null; then
  log "fetching ${#pkgs[@]} arm64 packages into $sysroot"
  rm -rf "$sysroot"; mkdir -p "$sysroot"
  while read -r p v; do
    deb=$(ls "$cache/debs-arm64/${p}_${v/:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
      (cd "$cache/debs-arm64" && apt-get "${apt_opts[@]}" -q download "$p=$v" >/dev/null 2>"$A/download.err") \
        || { cat "$A/download.err" >&2; die "could not download $p=$v (arm64)"; }
      deb=$(ls "$cache/debs-arm64/${p}_${v/:/%3a}_"*.deb | head -n1)
    fi
    arch=$(dpkg-deb -f "$deb" Architecture)
    [ "$arch" = arm64 ] || [ "$arch" = all ] || die "$deb is for $arch, not arm64"
    dpkg-deb -x "$deb" "$sysroot"
  done <<<"$want"
  echo "$want" >"$stamp"
fi
[ -f "$sysroot/usr/lib/aarch64-linux-gnu/libbpf.a" ] || die "no libbpf.a in $sysroot"

# --- build --------------------------------------------------------------------------
if [ ! -f "$builddir/build.ninja" ]; then
  rm -rf "$builddir" # a failed setup leaves a directory meson will not reuse
  printf "[constants]\nsysroot = '%s'\n" "$sysroot" >"$sysroot/sysroot.ini"
  meson setup "$builddir" "$repo" --cross-file "$sysroot/sysroot.ini" --cross-file "$repo/cross/arm64.ini" \
    -Dstatic_binary=true -Dbcc=disabled -Dtests=false >"$builddir.log" 2>&1 \
    || { cat "$builddir.log" >&2; die "meson setup (cross arm64) failed"; }
fi
ninja -C "$builddir" offsetprobe/offsetprobe >>"$builddir.log" 2>&1 || { tail -n 40 "$builddir.log" >&2; die "cross build failed"; }
bin=$builddir/offsetprobe/offsetprobe
file -L "$bin" | grep -q 'ARM aarch64' || die "$bin is not an arm64 executable: $(file -L "$bin")"
file -L "$bin" | grep -q 'statically linked' || die "$bin is not statically linked"
echo "$bin"
