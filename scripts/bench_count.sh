#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark of the counting probe: cost per syscall event with no probe, the
# bare tgid counter (the floor), the probe on both hooks, and bpftrace, all
# in one run of build/tests/bench_count. Writes docs/count-benchmark.md.
# Usage: scripts/bench_count.sh [CALLS] [ROUNDS]   (root; bpftrace optional)
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-2000000}
rounds=${2:-7}
ninja -C build >/dev/null
bin=build/offsetprobe/offsetprobe
offsets=$("$bin" -q calibrate --json)
field() { jq -r --arg m "$1" '.fields[] | select(.member == $m and .status == "calibrated" and .validation == "passed") | .offset' <<<"$offsets"; }
gl=$(field group_leader)
sb=$(field start_boottime)
[[ -n $gl && -n $sb ]] || { echo "bench_count: calibration incomplete" >&2; exit 1; }
bt=none
if command -v bpftrace >/dev/null; then bt=bpftrace; fi
table=$(build/tests/bench_count --group-leader "$gl" --start-boottime "$sb" \
  --calls "$calls" --rounds "$rounds" --bpftrace "$bt")
doc=docs/count-benchmark.md
if [[ ! -f $doc ]]; then
  cat >"$doc" <<'HEAD'
# Counting probe benchmark

Runs of `scripts/bench_count.sh`, newest last (each run appends a section).
Times are CPU time of the looping thread (CLOCK_THREAD_CPUTIME_ID), so that
other jobs on the shared cores do not count; they still disturb caches, so
compare runs: the spread between runs is the honest error bar.
HEAD
fi
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M') UTC: \`scripts/bench_count.sh $calls $rounds\`"
  echo
  echo "Kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "$(nproc) CPUs shared with other jobs (load average $(cut -d' ' -f1-3 /proc/loadavg)),"
  echo "$( [[ $bt == none ]] && echo "no bpftrace" || bpftrace --version)."
  echo "Offsets from \`offsetprobe calibrate\`: group_leader $gl, start_boottime $sb."
  echo
  echo "$table"
} >>"$doc"
tail -n 16 "$doc"
