#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (not a test): two offsetprobe binaries (say, before and after a
# change), a full cold calibration each (`calibrate --no-cache --json` plus
# ARGS), interleaved run by run in one invocation so that both see the same
# machine, in alternating order. Prints median, p10 and p90 of the
# whole-process wall time and of the in-process elapsed_ms, and the fields
# each calibrated. Root and BPF.
# -a ARGS / -b ARGS: calibrate arguments for A or B only (word-split), for
# binaries whose options differ (an old --fields all is a new
# --fields task,cred,ns,mm,audit).
# Usage: bench_ab.sh [-n RUNS] [-o OUT.md] [-a ARGS] [-b ARGS] BIN_A BIN_B [-- CALIBRATE_ARGS...]
set -euo pipefail
runs=30
out=""
a_args="" b_args=""
while getopts "n:o:a:b:" opt; do
  case $opt in
  n) runs=$OPTARG ;;
  o) out=$OPTARG ;;
  a) a_args=$OPTARG ;;
  b) b_args=$OPTARG ;;
  *) echo "usage: $0 [-n RUNS] [-o OUT.md] BIN_A BIN_B [-- ARGS...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 2 ]] || { echo "usage: $0 [-n RUNS] [-o OUT.md] BIN_A BIN_B [-- ARGS...]" >&2; exit 2; }
a=$(realpath "$1") b=$(realpath "$2")
shift 2
[[ ${1:-} == -- ]] && shift
args=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 1; }

stats() { # FILE -> "median p10 p90"
  sort -g "$1" | awk '{ v[NR] = $1 }
    function rank(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%.1f %.1f %.1f", rank(0.5), rank(0.1), rank(0.9) }'
}
bad=0
one() { # NAME BIN EXTRA_ARGS
  local t0 t1 rc=0 extra
  read -ra extra <<<"$3"
  # bash's own clock, in us: $(date +%s%N) timed a date process's exit and
  # the next one's start too (5-10 ms here) in every run.
  t0=${EPOCHREALTIME/./}
  "$2" calibrate --no-cache --json "${args[@]}" "${extra[@]}" >"$tmp/out.json" 2>"$tmp/err" || rc=$?
  t1=${EPOCHREALTIME/./}
  if [[ $rc -ne 0 ]]; then
    echo "bench: $1 run failed (exit $rc): $(head -1 "$tmp/err")" >&2
    bad=$((bad + 1))
    return
  fi
  awk -v us=$((t1 - t0)) 'BEGIN { printf "%.1f\n", us / 1e3 }' >>"$tmp/$1.wall"
  jq .elapsed_ms "$tmp/out.json" >>"$tmp/$1.elapsed"
  jq '[.fields[] | select(.status == "calibrated")] | length' "$tmp/out.json" >>"$tmp/$1.fields"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# The order alternates run by run: with A always first, B was 5-6 ms slower
# in two runs and 1.7 ms faster once swapped (docs/calibrate-benchmark.md,
# twenty-second session): a run's aftermath (a network namespace freed by a
# kworker after its exit) lands on the next one.
for ((i = 0; i < runs; i++)); do
  if ((i % 2 == 0)); then
    one a "$a" "$a_args"
    one b "$b" "$b_args"
  else
    one b "$b" "$b_args"
    one a "$a" "$a_args"
  fi
done
row() { # NAME LABEL
  local w w10 w90 e e10 e90
  read -r w w10 w90 <<<"$(stats "$tmp/$1.wall")"
  read -r e e10 e90 <<<"$(stats "$tmp/$1.elapsed")"
  echo "| $2 | $(sort -u "$tmp/$1.fields" | tr '\n' ' ')| $w | $w10 | $w90 | $e | $e10 | $e90 |"
}
report=$(
  cat <<EOF
$(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs, load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg); "calibrate --no-cache --json ${args[*]}", $runs runs of each, interleaved, $bad failed.

| binary | fields calibrated | wall median (ms) | p10 | p90 | elapsed_ms median | p10 | p90 |
|---|---|---|---|---|---|---|---|
$(row a "A: $a $a_args")
$(row b "B: $b $b_args")
EOF
)
echo "$report"
[[ -z $out ]] || echo "$report" >"$out"
