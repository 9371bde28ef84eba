#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark of `offsetprobe opens`' probe: cost per open event against a
# bare program on the same tracepoint (build/tests/bench_opens). Appends a
# section to docs/opens-benchmark.md.
# Usage: scripts/bench_opens.sh [CALLS] [ROUNDS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200000}
rounds=${2:-7}
ninja -C build >/dev/null
bin=build/offsetprobe/offsetprobe
cal=$(mktemp)
trap 'rm -f "$cal"' EXIT
"$bin" -q calibrate --json --fields files,mm >"$cal"
table=$(build/tests/bench_opens --calibration "$cal" --calls "$calls" --rounds "$rounds")
doc=docs/opens-benchmark.md
if [[ ! -f $doc ]]; then
  cat >"$doc" <<'HEAD'
# opens probe benchmark

Runs of `scripts/bench_opens.sh`, newest last (each run appends a section).
Times are CPU time of the looping thread (CLOCK_THREAD_CPUTIME_ID), which
includes the probe (it runs in that thread's syscall exit) but not the
thread that drains the ring buffer. Other jobs on the shared cores still
disturb caches: compare runs, the spread between them is the error bar.
HEAD
fi
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M') UTC: \`scripts/bench_opens.sh $calls $rounds\`"
  echo
  echo "Kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "$(nproc) CPUs shared with other jobs (load average $(cut -d' ' -f1-3 /proc/loadavg))."
  echo
  echo "$table"
} >>"$doc"
echo "$table"
