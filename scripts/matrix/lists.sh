#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What the matrix's suites hold for one architecture, read from the private apt
# indexes (apt-private.sh, the same ones run.sh boots from):
#
#   scripts/matrix/lists.sh [--arch ARCH] [--refresh]           # print a list
#   scripts/matrix/lists.sh --arch arm64 --check arm64          # compare lists/arm64.txt
#
# A "build" is one concrete kernel image package (linux-image-6.1.0-50-rt-arm64).
# The indexes keep many superseded builds (bookworm-security and
# bookworm-backports keep every ABI they ever published), so the matrix boots
# the build each meta package pulls in today: every meta package of every
# suite (linux-image-ARCH, -cloud-, -rt-, and the series metas such as
# linux-image-6.12-arm64 that bookworm-security carries for its 6.12 kernel),
# resolved through Depends. The output is a list file (SUITE PACKAGE, with the
# build as a comment) preceded by counts of all builds per suite.
#
# --check NAME: exit 1 when lists/NAME.txt misses a meta package of the
# indexes, or names one that no longer resolves; 0 when it is complete.
# --flavours LIST: the flavours to cover (default generic,cloud,rt and, on
# arm64, 16k).
# Exit status: 0 complete/printed; 1 the list is incomplete; 2 usage; 3 set-up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "lists: $*" >&2; }
die() { echo "lists: $1" >&2; exit "${2:-3}"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

arch=amd64
refresh=0
check=""
flavours=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
    --refresh) refresh=1; shift ;;
    --check) check=${2:?--check needs a list name}; shift 2 ;;
    --flavours) flavours=${2:?--flavours needs a list}; shift 2 ;;
    -h|--help) sed -n '3,22p' "$0"; exit 0 ;;
    *) echo "lists: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $arch in amd64|arm64) ;; *) die "--arch wants amd64 or arm64, got '$arch'" 2 ;; esac
# 16k: arm64's 16 KiB-page flavour (trixie and the 6.12 of bookworm's other
# suites), a different page size and virtual address layout.
[ -n "$flavours" ] || flavours=generic,cloud,rt$([ "$arch" != arm64 ] || echo ,16k)
[ -z "$check" ] || [ -r "$here/lists/$check.txt" ] || die "no list '$check'" 2

# shellcheck source=apt-private.sh
. "$here/apt-private.sh"

# flavour_of PACKAGE: generic, cloud, rt, 16k, or "" for debug/unsigned/
# template packages (the unsigned image is the signed one's kernel, unsigned).
flavour_of() {
  case $1 in
    *-dbg | *-unsigned | *-signed-template) echo "" ;;
    *-rt-"$arch") echo rt ;;
    *-cloud-"$arch") echo cloud ;;
    *-"$arch"-16k) echo 16k ;;
    *-"$arch") echo generic ;;
    *) echo "" ;;
  esac
}

# All image packages of $arch, "package suite version" per (package, suite).
all=$(apt_cache pkgnames linux-image- | while read -r p; do if [ -n "$(flavour_of "$p")" ]; then echo "$p"; fi; done \
  | sort | xargs -r apt-cache "${apt_opts[@]}" madison 2>/dev/null \
  | awk -F'|' '{ gsub(/ /, "", $1); gsub(/ /, "", $2); split($3, a, " "); split(a[2], b, "/"); print $1, b[1], $2 }' \
  | sort -u)
# Concrete builds carry their full version (5.10.0-32, 6.12.117+deb13); meta
# packages (linux-image-arm64, linux-image-6.12-arm64) do not.
concrete=$(awk '$1 ~ /^linux-image-[0-9]+\.[0-9]+\.[0-9]+/' <<<"$all")
metas=$(awk '$1 !~ /^linux-image-[0-9]+\.[0-9]+\.[0-9]+/' <<<"$all")
echo "# $arch image builds in the indexes ($(date -u -r "$A/state/updated" +%Y-%m-%dT%H:%MZ)), per suite (all flavours):"
for s in "${suites[@]}"; do
  n=$(awk -v s="$s" '$2 == s' <<<"$concrete" | wc -l)
  echo "#   $s: $n"
done
echo "#   total: $(wc -l <<<"$concrete") builds, $(awk '{ print $1 }' <<<"$concrete" | sort -u | wc -l) distinct packages"

want=() # "suite package build" for each meta package of a wanted flavour
while read -r p s v; do
  [ -n "$p" ] || continue
  f=$(flavour_of "$p")
  [[ ",$flavours," == *",$f,"* ]] || continue
  res=$(resolve "$p/$s") || die "$p/$s: $res"
  want+=("$s $p ${res%% *}")
done <<<"$metas"
echo "# Meta packages of flavours $flavours, each with the build it pulls in: ${#want[@]}"
for w in "${want[@]}"; do
  # shellcheck disable=SC2086
  set -- $w
  printf '%-19s %-27s # %s\n' "$1" "$2" "$3"
done | sort -k1,1 -k2,2

[ -n "$check" ] || exit 0
have=$(sed 's/#.*//' "$here/lists/$check.txt" | awk 'NF == 2 { print $1, $2 }' | sort -u)
missing=0
for w in "${want[@]}"; do
  # shellcheck disable=SC2086
  set -- $w
  grep -qxF "$1 $2" <<<"$have" || { log "$check misses $2 ($1, pulls in $3)"; missing=$((missing + 1)); }
done
while read -r s p; do
  [ -n "$s" ] || continue
  res=$(resolve "$p/$s") || { log "$check: $p/$s: $res"; missing=$((missing + 1)); }
done <<<"$have"
[ "$missing" = 0 ] || die "$check is incomplete or stale against the indexes: $missing difference(s)" 1
log "$check covers every meta package of flavours $flavours (${#want[@]} builds)"
