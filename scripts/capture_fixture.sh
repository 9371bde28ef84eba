#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Captures an offline solver fixture from the running kernel (root, BPF):
# the raw trials of one calibration plus the kernel's BTF offsets, gzip'd as
# tests/fixtures/<release>-<tag>.json.gz. Format: tests/fixtures/README.md.
# Usage: capture_fixture.sh [OFFSETPROBE] [TAG] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/offsetprobe/offsetprobe}
tag=${2:-local}
out_dir=${3:-tests/fixtures}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The calibration itself never reads BTF; verify supplies the truth.
"$bin" calibrate --json --dump-snapshots "$tmp/trials.json" >"$tmp/cal.json" || {
  echo "capture_fixture: calibrate failed (exit $?)" >&2; exit 1; }
rc=0
"$bin" verify --input "$tmp/cal.json" --json >"$tmp/verify.json" || rc=$?
if [[ $rc -ne 0 && $rc -ne 6 ]]; then # 6: a mismatch, still a useful fixture
  echo "capture_fixture: verify failed (exit $rc)" >&2; exit 1
fi
release=$(uname -r)
# The dump is copied verbatim: jq holds numbers as doubles and would round
# the 64-bit task addresses (their low digits come out wrong). jq only builds
# the small parts.
head=$(jq -cn --arg release "$release" --arg version "$(uname -v)" --arg machine "$(uname -m)" \
  --arg captured "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{
    format: "offsetprobe-fixture/v1",
    kernel: {release: $release, version: $version, machine: $machine},
    captured: $captured}')
btf=$(jq -c '.fields | map({(.name): .btf_offset}) | add' "$tmp/verify.json")
{
  printf '%s,"btf":%s,"trials":' "${head%\}}" "$btf"
  tr -d '\n' <"$tmp/trials.json"
  printf '}\n'
} | gzip -9n >"$out_dir/$release-$tag.json.gz"
echo "$out_dir/$release-$tag.json.gz"
