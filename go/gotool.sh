#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the go command on go/offsetprobe offline, with Debian's Go toolchain and
# Debian's packaged modules (golang-github-cilium-ebpf-dev and its
# golang-golang-x-sys-dev under /usr/share/gocode), never a module proxy.
#
#   go/gotool.sh BUILD_DIR go test ./...
#
# go.mod stays the module's own (a user vendors it like any module); the
# Debian paths go into a copy of it under BUILD_DIR, passed with -modfile, so
# the replace lines never reach users. GOCACHE and GOPATH are private to
# BUILD_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
shift
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
export GOCACHE=$build/cache GOPATH=$build/gopath GOTOOLCHAIN=local
cd "$here/offsetprobe"
exec "$@"
