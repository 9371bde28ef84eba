#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (not a test): what the net family adds to a cold calibration.
# Interleaves, in one run, `offsetprobe calibrate --no-cache --json` with
# --fields all and with every family but net (task,cred,ns,mm,audit,sched,
# files), N pairs, alternating which goes first;
# prints the median, p10 and p90 of each run's in-process elapsed_ms and of
# the per-pair difference, and the net experiment's own time
# (OFFSETPROBE_TIMING: its thread starts at "net + start", once net.ns.inum
# is solved, and ends at "net
# family"). Root and BPF needed.
# Usage: bench_net.sh [-n PAIRS] [OFFSETPROBE]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=20
while getopts "n:" opt; do
  case $opt in
  n) pairs=$OPTARG ;;
  *) echo "usage: $0 [-n PAIRS] [OFFSETPROBE]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
bin=$(realpath "${1:-build/offsetprobe/offsetprobe}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 1; }

stats() { # FILE: "median p10 p90" (nearest rank)
  sort -g "$1" | awk '{ v[NR] = $1 }
    function rank(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%.2f %.2f %.2f", rank(0.5), rank(0.1), rank(0.9) }'
}
one() { # FIELDS -> elapsed_ms; the net stage's ms into $tmp/stage when timed
  OFFSETPROBE_TIMING=1 "$bin" -q calibrate --no-cache --fields "$1" --json >"$tmp/out.json" 2>"$tmp/err" ||
    { echo "bench: calibrate --fields $1 failed: $(tail -3 "$tmp/err")" >&2; exit 1; }
  awk '/ ms /{ ms = $2; what = $0; sub(/.* ms /, "", what)
         if (what == "validated") start = ms; if (what == "net family") print ms - start }' \
    "$tmp/err" >>"$tmp/stage"
  jq .elapsed_ms "$tmp/out.json"
}
base=task,cred,ns,mm,audit,sched,files # every family but net
: >"$tmp/all"; : >"$tmp/base"; : >"$tmp/diff"; : >"$tmp/stage"
for i in $(seq "$pairs"); do
  if ((i % 2)); then
    a=$(one all); b=$(one "$base")
  else
    b=$(one "$base"); a=$(one all)
  fi
  echo "$a" >>"$tmp/all"; echo "$b" >>"$tmp/base"
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", a - b }' >>"$tmp/diff"
done
echo "offsetprobe calibrate --no-cache, $pairs interleaved pairs, $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
printf "%-34s %9s %9s %9s\n" "" median p10 p90
printf "%-34s %9s %9s %9s  ms\n" "--fields all" $(stats "$tmp/all")
printf "%-34s %9s %9s %9s  ms\n" "--fields $base" $(stats "$tmp/base")
printf "%-34s %9s %9s %9s  ms\n" "difference (all - without net)" $(stats "$tmp/diff")
printf "%-34s %9s %9s %9s  ms\n" "net thread (OFFSETPROBE_TIMING)" $(stats "$tmp/stage")
