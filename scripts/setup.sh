#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs what offsetprobe needs from Debian's packages, prepares tracefs and
# builds into ./build. Idempotent; run as root on Debian 12.
#
# OFFSETPROBE_BCC=disabled skips the BCC backend: no libbpfcc-dev, no kernel
# headers, and the build is configured with -Dbcc=disabled.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libzstd-dev
  meson ninja-build pkg-config g++
  libboost-dev libboost-filesystem-dev nlohmann-json3-dev doctest-dev libcli11-dev
  debhelper dpkg-dev groff-base man-db
  # The Go and Python consumers and their tests (go/, python/): Debian's Go
  # toolchain and cilium/ebpf module (built offline, no module proxy), pytest.
  golang-go golang-github-cilium-ebpf-dev python3-pytest
)
# What the test suite runs besides the build (scripts/test.sh): with all of
# it a fresh machine reports 0 skipped. bpftool is also the tests' second BTF
# oracle (scripts/matrix/btf-truth.sh); binutils gives readelf
# (no_bcc_maps); python3-jsonschema the schema test; strace, dash, setpriv
# and capsh the live tests; systemd gives systemd-analyze (the package test
# verifies the unit with it); the portability matrix installs its own tools.
packages+=(jq util-linux libcap2-bin strace binutils dash python3 python3-jsonschema systemd)
# ccache: meson finds it by itself. The matrix's static build (build-static)
# then takes most of its objects from the main build's compile: 55 of its 85
# compile commands are the same.
packages+=(ccache)
bcc=${OFFSETPROBE_BCC:-auto}
if [ "$bcc" != disabled ]; then
  # The BCC backend (offsetprobe-bcc) compiles its programs at run time and
  # needs libbcc plus a kernel header set. This machine kind has no headers for
  # its own kernel; Debian's current ones are close enough, because the BCC
  # programs reach task_struct only through calibrated offsets
  # (docs/bcc-backend.md).
  # python3-bpfcc: the BCC example of the Python consumer (python/examples).
  packages+=(libbpfcc-dev linux-headers-amd64 python3-bpfcc)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The scanner attaches to syscall tracepoints: tracefs must be mounted.
if [ ! -e /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs nodev /sys/kernel/tracing || echo "setup: could not mount tracefs" >&2
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release -Dbcc="$bcc" >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built ./build/offsetprobe/offsetprobe"
