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

# The calibration itself never reads BTF. The truth is bpftool's reading of
# the kernel's BTF (scripts/matrix/btf-truth.sh), which shares no code with
# offsetprobe; `verify` must agree with it on every field, or there is no
# fixture (one of the two oracles is wrong).
"$bin" calibrate --json --dump-snapshots "$tmp/trials.json" >"$tmp/cal.json" || {
  echo "capture_fixture: calibrate failed (exit $?)" >&2; exit 1; }
rc=0
"$bin" verify --input "$tmp/cal.json" --json >"$tmp/verify.json" || rc=$?
if [[ $rc -ne 0 && $rc -ne 6 ]]; then # 6: a mismatch, still a useful fixture
  echo "capture_fixture: verify failed (exit $rc)" >&2; exit 1
fi
structs=$(jq -r '[.fields[].struct] + ["task_struct"] | unique | .[]' "$tmp/cal.json")
bash scripts/matrix/btf-truth.sh /sys/kernel/btf/vmlinux $structs >"$tmp/truth.json" || {
  echo "capture_fixture: bpftool could not read the kernel's BTF" >&2; exit 1; }
# field name -> bpftool's offset (member or an alias), null where BTF has none.
btf=$(jq -c --slurpfile t "$tmp/truth.json" '.fields | map(. as $f | ($t[0][$f.struct].members // {}) as $m
  | {($f.name): ([$f.member] + ($f.aliases // []) | map($m[.]) | map(select(. != null)) | first)}) | add' \
  "$tmp/cal.json")
disagree=$(jq -r --argjson b "$btf" '.fields[] | select(.btf_offset != $b[.name])
  | "\(.name): verify \(.btf_offset), bpftool \($b[.name])"' "$tmp/verify.json")
if [[ -n $disagree ]]; then
  echo "capture_fixture: verify and bpftool disagree:" >&2; echo "$disagree" >&2; exit 1
fi
release=$(uname -r)
# The dump is copied verbatim: jq holds numbers as doubles and would round
# the 64-bit task addresses (their low digits come out wrong). jq only builds
# the small parts.
head=$(jq -cn --arg release "$release" --arg version "$(uname -v)" --arg machine "$(uname -m)" \
  --arg captured "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{
    format: "offsetprobe-fixture/v1",
    kernel: {release: $release, version: $version, machine: $machine},
    captured: $captured, btf_source: "bpftool (scripts/matrix/btf-truth.sh), equal to verify"}')
{
  printf '%s,"btf":%s,"trials":' "${head%\}}" "$btf"
  tr -d '\n' <"$tmp/trials.json"
  printf '}\n'
} | gzip -9n >"$out_dir/$release-$tag.json.gz"
echo "$out_dir/$release-$tag.json.gz"
