#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (not a test): page faults and CPU of a cold calibration, two
# binaries interleaved run by run in one invocation (`calibrate --no-cache
# --json` plus ARGS). On this kind of VM a page fault costs ~10 us (a fresh
# anonymous page touched: 10.1-10.7 us measured, 2026-12-03), so a
# calibration's ~2,000 faults are ~20 ms of CPU on 2 CPUs: fewer faults is
# the steadiest measure of less work here, where wall time is noisy.
# Counts are getrusage(RUSAGE_CHILDREN) deltas around each run (python3):
# minor faults and user + system CPU of the process and of every descendant
# it or its children reaped (the subject host, the subjects), in us rather
# than /usr/bin/time's 10 ms steps. Prints the medians, p10 and p90. Root
# and BPF.
# -a ARGS / -b ARGS: calibrate arguments for A or B only (word-split).
# Usage: bench_faults.sh [-n RUNS] [-a ARGS] [-b ARGS] BIN_A BIN_B [-- CALIBRATE_ARGS...]
set -euo pipefail
runs=20
a_args="" b_args=""
while getopts "n:a:b:" opt; do
  case $opt in
  n) runs=$OPTARG ;;
  a) a_args=$OPTARG ;;
  b) b_args=$OPTARG ;;
  *) echo "usage: $0 [-n RUNS] [-a ARGS] [-b ARGS] BIN_A BIN_B [-- ARGS...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 2 ]] || { echo "usage: $0 [-n RUNS] [-a ARGS] [-b ARGS] BIN_A BIN_B [-- ARGS...]" >&2; exit 2; }
a=$(realpath "$1") b=$(realpath "$2")
shift 2
[[ ${1:-} == -- ]] && shift
args=("$@")
command -v python3 >/dev/null || { echo "bench: python3 missing" >&2; exit 1; }
# measure CMD...: runs it (stdout to /dev/null) and prints "faults cpu_ms wall_ms rc".
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t1 = time.monotonic()
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(r1.ru_minflt - r0.ru_minflt, round(cpu * 1000, 1), round((t1 - t0) * 1000, 1), rc)
PY
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stats() { # FILE -> "median p10 p90"
  sort -g "$1" | awk '{ v[NR] = $1 }
    function rank(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%g %g %g", rank(0.5), rank(0.1), rank(0.9) }'
}
bad=0
one() { # NAME BIN EXTRA_ARGS
  local extra faults cpu wall rc
  read -ra extra <<<"$3"
  read -r faults cpu wall rc <<<"$(measure "$2" calibrate --no-cache --json "${args[@]}" "${extra[@]}")"
  if [[ $rc -ne 0 ]]; then
    echo "bench: $1 run failed (exit $rc)" >&2
    bad=$((bad + 1))
    return
  fi
  echo "$faults" >>"$tmp/$1.faults"
  echo "$cpu" >>"$tmp/$1.cpu"
  echo "$wall" >>"$tmp/$1.wall"
}
for ((i = 0; i < runs; i++)); do
  one a "$a" "$a_args"
  one b "$b" "$b_args"
done
echo "$(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs; \"calibrate --no-cache --json ${args[*]}\", $runs runs of each, interleaved, $bad failed."
echo
echo "| binary | page faults median | p10 | p90 | CPU ms (user+sys) median | p10 | p90 | wall ms median |"
echo "|---|---|---|---|---|---|---|---|"
for x in a b; do
  [[ -s $tmp/$x.faults ]] || continue
  name=$a label=$a_args
  [[ $x == b ]] && name=$b label=$b_args
  read -r fm f10 f90 <<<"$(stats "$tmp/$x.faults")"
  read -r cm c10 c90 <<<"$(stats "$tmp/$x.cpu")"
  read -r wm _ _ <<<"$(stats "$tmp/$x.wall")"
  echo "| ${x^^}: $name $label | $fm | $f10 | $f90 | $cm | $c10 | $c90 | $wm |"
done
[[ $bad -eq 0 ]]
