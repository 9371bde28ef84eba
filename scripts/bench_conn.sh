#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark of `offsetprobe conn`'s probe: cost per sock:inet_sock_set_state
# event against a bare program on the same tracepoint, and against none (one
# run of build/tests/bench_conn). Appends a section to docs/conn-benchmark.md.
# Usage: scripts/bench_conn.sh [CONNS] [ROUNDS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-2000}
rounds=${2:-7}
ninja -C build >/dev/null
bin=build/offsetprobe/offsetprobe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OFFSETPROBE_CACHE_DIR=$tmp "$bin" -q calibrate --fields net --no-cache --json >"$tmp/cal.json" || {
  echo "bench_conn: calibrate --fields net failed" >&2
  exit 1
}
table=$(build/tests/bench_conn --calibration "$tmp/cal.json" --conns "$conns" --rounds "$rounds")
doc=docs/conn-benchmark.md
if [[ ! -f $doc ]]; then
  cat >"$doc" <<'HEAD'
# `offsetprobe conn` benchmark

Runs of `scripts/bench_conn.sh`, newest last (each run appends a section).
One process in a network namespace of its own makes loopback connections
(connect, accept, close both ends: about 9 `sock:inet_sock_set_state` hits
each) with no program, with a bare program on the same classic tracepoint
(a per-CPU hit counter, `bpf/bench_conn_bare.bpf.c`), and with conn's probe
(`bpf/connwatch.bpf.c`, its ring buffer drained by the loop). Rounds rotate
the order of the modes; figures are medians over rounds.

- *program run time per hit*: the kernel's own BPF statistics
  (`BPF_ENABLE_STATS`, run_time_ns / run_cnt of the program). It leaves out
  what the tracepoint costs before the program runs (filling the record),
  which the bare program and conn's share.
- *wall time per connection*: the whole loop, divided by the connections;
  on this shared machine it moves with the neighbours' load, so compare
  within a run, and across runs only the order of magnitude.
HEAD
fi
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M') UTC: \`scripts/bench_conn.sh $conns $rounds\`"
  echo
  echo "Kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "$(nproc) CPUs shared with other jobs (load average $(cut -d' ' -f1-3 /proc/loadavg))."
  echo
  echo "$table"
} >>"$doc"
tail -n 12 "$doc"
