#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the go command on go/offsetprobe offline, with Debian's Go toolchain and
# Debian's packaged modules (golang-github-cilium-ebpf-dev and its
# golang-golang-x-sys-dev under /usr/share/gocode), never a module proxy.
#
#   go/gotool.sh BUILD_DIR go test ./...
#   go/gotool.sh --test BUILD_DIR ARGS...   (meson test: `go test -v ARGS`)
#
# go.mod stays the module's own (a user vendors it like any module); the
# Debian paths go into a copy of it under BUILD_DIR, passed with -modfile, so
# the replace lines never reach users. GOCACHE and GOPATH are private to
# BUILD_DIR.
#
# --test: exits 77 (meson's "skipped") when Go is missing or a test skipped
# (root, BPF or a tool missing), so the skip shows in the suite's summary;
# under CI=true those fail instead (the tests themselves see CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
test_mode=0
if [ "${1:-}" = --test ]; then
  test_mode=1
  shift
fi
build=$1
shift
if ! command -v go >/dev/null; then
  echo "go is not installed (scripts/setup.sh installs golang-go)" >&2
  [ "$test_mode" = 1 ] && [ "${CI:-}" != true ] && exit 77
  exit 1
fi
if [ ! -d /usr/share/gocode/src/github.com/cilium/ebpf ]; then
  echo "cilium/ebpf is not installed (scripts/setup.sh installs golang-github-cilium-ebpf-dev)" >&2
  [ "$test_mode" = 1 ] && [ "${CI:-}" != true ] && exit 77
  exit 1
fi
gocode=${OFFSETPROBE_GOCODE:-/usr/share/gocode/src}
mkdir -p "$build/go"
build=$(cd "$build/go" && pwd)
modfile=$build/offline.mod
cp "$here/offsetprobe/go.mod" "$modfile"
cat >>"$modfile" <<EOM

replace github.com/cilium/ebpf => $gocode/github.com/cilium/ebpf

replace golang.org/x/sys => $gocode/golang.org/x/sys
EOM
: >"$build/offline.sum"
export GOPROXY=off GOSUMDB=off GOFLAGS="-mod=mod -modfile=$modfile" GO111MODULE=on
export GOCACHE=$build/cache GOPATH=$build/gopath GOTOOLCHAIN=local GOENV=off
cd "$here/offsetprobe"
if [ "$test_mode" = 0 ]; then
  exec "$@"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
go test -count=1 -v "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ] && grep -q -- '^--- SKIP' "$out"; then
  exit 77
fi
exit "$rc"
