#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds a bootable x86_64 kernel with a randomized struct layout (the GCC
# randstruct plugin) from Debian's linux-source-6.1, and the truth of its
# layout (offsetof-truth.c compiled with the kernel's own flags). Cached by
# (source version, config, mode, seed, truth program): a second call with the
# same inputs prints the cached directory at once. See docs/randstruct.md.
#
#   scripts/randstruct/build-kernel.sh --mode full|performance --seed HEX [-j N]
#
# Prints the kernel's directory (bzImage, config, seed, mode, truth.txt,
# offsetof-truth.c, build.log) on stdout. Exit status: 0 built or cached;
# 2 usage error; 3 set-up failed (packages, source); 4 the kernel or its truth
# did not build (build.log says why).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  cat <<EOF
usage: $0 --mode full|performance --seed HEX [-j N] [--no-setup]
  --mode M     CONFIG_RANDSTRUCT_FULL or CONFIG_RANDSTRUCT_PERFORMANCE
  --seed HEX   the randstruct seed (64 hex digits, as scripts/basic/randstruct.seed)
  -j N         make jobs (default: number of CPUs)
  --no-setup   do not apt-get install the build dependencies
Environment: OFFSETPROBE_RANDSTRUCT_CACHE (default ~/.cache/offsetprobe-randstruct)
EOF
}
mode="" seed="" jobs=$(nproc) setup=1
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode=${2:?--mode needs full or performance}; shift 2 ;;
    --seed) seed=${2:?--seed needs hex digits}; shift 2 ;;
    -j) jobs=${2:?-j needs a number}; shift 2 ;;
    --no-setup) setup=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "randstruct: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
case $mode in
  full) kmode=RANDSTRUCT_FULL ;;
  performance) kmode=RANDSTRUCT_PERFORMANCE ;;
  *) echo "randstruct: --mode must be full or performance" >&2; exit 2 ;;
esac
[[ $seed =~ ^[0-9a-f]{64}$ ]] || { echo "randstruct: --seed wants 64 lowercase hex digits" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "randstruct: -j wants a positive number" >&2; exit 2; }
log() { echo "randstruct: $*" >&2; }
die() { echo "randstruct: $1" >&2; exit "${2:-3}"; }

if [ "$setup" = 1 ]; then
  need=(linux-source-6.1 gcc-12-plugin-dev make flex bison bc libelf-dev libssl-dev dwarves cpio xz-utils)
  missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=900 "${missing[@]}" >/dev/null || die "could not install ${missing[*]}"
  fi
fi
tarball=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null || true)
[ -n "$tarball" ] || die "no /usr/src/linux-source-6.1.tar.xz (apt-get install linux-source-6.1)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)

cache=${OFFSETPROBE_RANDSTRUCT_CACHE:-$HOME/.cache/offsetprobe-randstruct}
mkdir -p "$cache"
key=$( { echo "$srcver"; echo "$kmode"; echo "$seed"; cat "$here/config-fragment.txt" "$here/offsetof-truth.c"; } \
       | sha256sum | cut -c1-16)
dest=$cache/$mode-${seed:0:8}-$key
if [ -e "$dest/.done" ]; then
  log "cached: $dest"
  echo "$dest"
  exit 0
fi

# The source, unpacked once per Debian version. Builds are out of tree (O=),
# so several kernels share it; it is never modified.
src=$cache/src-$srcver
if [ ! -e "$src/.done" ]; then
  log "unpacking $tarball"
  rm -rf "$src"; mkdir -p "$src"
  tar -xJf "$tarball" -C "$src" --strip-components=1 || die "could not unpack $tarball"
  touch "$src/.done"
fi

obj=$cache/build-$mode-${seed:0:8}-$key
rm -rf "$obj" "$dest"
mkdir -p "$obj" "$dest.tmp"
blog=$dest.tmp/build.log
k() { make -C "$src" O="$obj" "$@" >>"$blog" 2>&1; }
log "building $mode ${seed:0:8}… in $obj (log: $blog)"
t0=$(date +%s)
{
  k tinyconfig
  args=()
  while read -r line; do
    line=${line%%#*}; line=${line// /}
    [ -n "$line" ] && args+=(--enable "$line")
  done <"$here/config-fragment.txt"
  args+=(--enable GCC_PLUGINS --enable "$kmode")
  "$src/scripts/config" --file "$obj/.config" "${args[@]}"
  k olddefconfig
  grep -q "^CONFIG_$kmode=y" "$obj/.config" || { echo "CONFIG_$kmode did not stick" >>"$blog"; false; }
  # The seed: scripts/basic/Makefile writes randstruct.seed with the script
  # $(gen-randstruct-seed); a command-line variable overrides it in every
  # sub-make, so the shared source tree is not touched.
  gen=$obj/gen-fixed-seed.sh
  printf '#!/bin/sh\necho "%s" > "$1"\necho "#define RANDSTRUCT_HASHED_SEED \\"%s\\"" > "$2"\n' \
    "$seed" "$(printf '%s' "$seed" | sha256sum | cut -c1-64)" >"$gen"
  chmod +x "$gen"
  k -j"$jobs" gen-randstruct-seed="$gen" bzImage
  [ "$(cat "$obj/scripts/basic/randstruct.seed")" = "$seed" ] \
    || { echo "the built seed is not $seed" >>"$blog"; false; }
} || die "kernel build failed after $(( $(date +%s) - t0 )) s: $(tail -n 5 "$blog" | tr '\n' ' ')" 4

# The truth: an external Kbuild object compiled with the kernel's own flags
# (plugin and seed loaded) down to assembly; its DEFINE()s are "->NAME VALUE".
td=$obj/offsetof-truth
mkdir -p "$td"
cp "$here/offsetof-truth.c" "$td/"
printf 'obj-m := offsetof-truth.o\nccflags-y := -I$(srctree)/fs\n' >"$td/Kbuild"
k M="$td" gen-randstruct-seed="$gen" offsetof-truth.s \
  || die "offsetof-truth.c did not compile: $(tail -n 5 "$blog" | tr '\n' ' ')" 4
sed -n 's/^[[:space:]]*\.ascii "->\([A-Za-z_][A-Za-z0-9_]*\) \$\{0,1\}\([0-9]*\) .*/\1 \2/p' \
  "$td/offsetof-truth.s" >"$dest.tmp/truth.txt"
grep -q '^task_struct__pid [0-9]' "$dest.tmp/truth.txt" || die "no truth in $td/offsetof-truth.s" 4

cp "$obj/arch/x86/boot/bzImage" "$dest.tmp/bzImage"
cp "$obj/.config" "$dest.tmp/config"
echo "$seed" >"$dest.tmp/seed"
echo "$mode" >"$dest.tmp/mode"
cp "$here/offsetof-truth.c" "$dest.tmp/"
echo "$(( $(date +%s) - t0 ))" >"$dest.tmp/build-seconds"
touch "$dest.tmp/.done"
mv "$dest.tmp" "$dest"
rm -rf "$obj"
log "built in $(cat "$dest/build-seconds") s: $dest"
echo "$dest"
