#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (not a test): `calibrate` on a kernel that the fleet bundle holds
# (the bundle's offsets validated by the read-back, no experiment) against a
# cold calibration (--force --no-bundle), interleaved run by run in one
# invocation so that both see the same machine. The bundle is the shipped
# fleet bundle of this architecture (dist/fleet/ARCH/bundle.json: its ~100
# builds are parsed past on every lookup) with this kernel's own entry added,
# calibrated first (this host's kernel is not a Debian build). -s: this
# kernel's entry alone.
# Prints the medians, p10/p90 of whole-process wall time and of the in-process
# elapsed_ms, and writes them as Markdown. Root and BPF needed.
# Usage: bench_bundle.sh [-n RUNS] [-o OUT.md] [-s] [OFFSETPROBE]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=30
out=""
case $(uname -m) in aarch64) shipped=dist/fleet/arm64/bundle.json ;; *) shipped=dist/fleet/amd64/bundle.json ;; esac
while getopts "n:o:s" opt; do
  case $opt in
  n) runs=$OPTARG ;;
  o) out=$OPTARG ;;
  s) shipped="" ;;
  *) echo "usage: $0 [-n RUNS] [-o OUT.md] [-s] [OFFSETPROBE]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
bin=$(realpath "${1:-build/offsetprobe/offsetprobe}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 1; }

"$bin" -q --cache-dir "$tmp/src" calibrate --force --no-bundle >/dev/null ||
  { echo "bench: the source calibration failed" >&2; exit 1; }
"$bin" -q bundle create -o "$tmp/fleet.bundle" ${shipped:+"$shipped"} "$tmp"/src/*.json
bundle_desc="this kernel's entry$([[ -z $shipped ]] || echo " and $shipped's $(jq '.builds | length' "$shipped") builds"), $(stat -c %s "$tmp/fleet.bundle") bytes"

stats() { # FILE -> "median p10 p90"
  sort -g "$1" | awk '{ v[NR] = $1 }
    function rank(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%.1f %.1f %.1f", rank(0.5), rank(0.1), rank(0.9) }'
}
# one NAME ARGS...: one run into a fresh cache dir; appends wall and elapsed ms.
one() {
  local name=$1 t0 t1 rc=0
  shift
  rm -rf "$tmp/c"
  # bash's own clock, in us: $(date +%s%N) timed a date process's exit and
  # the next one's start too (5-10 ms here) in every run.
  t0=${EPOCHREALTIME/./}
  "$bin" --cache-dir "$tmp/c" calibrate --json "$@" >"$tmp/out.json" 2>"$tmp/err" || rc=$?
  t1=${EPOCHREALTIME/./}
  if [[ $rc -ne 0 ]]; then
    echo "bench: $name run failed (exit $rc): $(head -1 "$tmp/err")" >&2
    bad=$((bad + 1))
    return
  fi
  awk -v us=$((t1 - t0)) 'BEGIN { printf "%.1f\n", us / 1e3 }' >>"$tmp/$name.wall"
  jq .elapsed_ms "$tmp/out.json" >>"$tmp/$name.elapsed"
  jq -r .source "$tmp/out.json" >>"$tmp/$name.source"
}
bad=0
for ((i = 0; i < runs; i++)); do
  one bundled --bundle "$tmp/fleet.bundle"
  one cold --force --no-bundle
done
src_b=$(sort -u "$tmp/bundled.source" | tr '\n' ' ')
src_c=$(sort -u "$tmp/cold.source" | tr '\n' ' ')
read -r bw bw10 bw90 <<<"$(stats "$tmp/bundled.wall")"
read -r cw cw10 cw90 <<<"$(stats "$tmp/cold.wall")"
read -r be _ _ <<<"$(stats "$tmp/bundled.elapsed")"
read -r ce _ _ <<<"$(stats "$tmp/cold.elapsed")"
ratio=$(awk -v a="$bw" -v b="$cw" 'BEGIN { printf "%.2f", a / b }')
report=$(
  cat <<EOF
$(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $runs runs of each, interleaved, $bad failed; bundle: $bundle_desc.

| path | source | wall median (ms) | p10 | p90 | elapsed_ms median |
|---|---|---|---|---|---|
| bundled (read-back of the bundle's offsets) | $src_b| $bw | $bw10 | $bw90 | $be |
| cold (--force --no-bundle: the experiment) | $src_c| $cw | $cw10 | $cw90 | $ce |

bundled / cold, wall medians: $ratio
EOF
)
echo "$report"
[[ -z $out ]] || echo "$report" >"$out"
