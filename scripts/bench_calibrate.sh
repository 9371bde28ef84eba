#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (not a test) of a full cold calibration: a fresh `offsetprobe
# calibrate --no-cache --fields $fields --json` process per run (3 trials + validation, no cache), run N
# times sequentially, back to back and with a pause between runs. Reports
# median, p10, p90, min and max of the in-process elapsed_ms (from --json),
# the whole-process wall time, and peak RSS; writes them as Markdown.
# Root and BPF needed.
# -f FIELDS: task (the nine task_struct fields) or all (with the pointer chains).
# Usage: bench_calibrate.sh [-n RUNS] [-p PAUSE_S] [-f FIELDS] [-o OUT.md] [OFFSETPROBE]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=50
pause=0.1
fields=all
out=docs/calibrate-benchmark.md
while getopts "n:p:o:f:" opt; do
  case $opt in
  n) runs=$OPTARG ;;
  p) pause=$OPTARG ;;
  o) out=$OPTARG ;;
  f) fields=$OPTARG ;;
  *) echo "usage: $0 [-n RUNS] [-p PAUSE_S] [-o OUT.md] [OFFSETPROBE]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
bin=$(realpath "${1:-build/offsetprobe/offsetprobe}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ -x /usr/bin/time ]] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 1; }

# stats FILE: "median p10 p90 min max" (nearest rank) of one number per line.
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 }
    function rank(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%.2f %.2f %.2f %.2f %.2f", rank(0.5), rank(0.1), rank(0.9), v[1], v[NR] }'
}
row() { # LABEL FILE UNIT
  read -r med p10 p90 min max <<<"$(stats "$2")"
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$med" "$p10" "$p90" "$min" "$max" "$3"
}

# series NAME PAUSE: N runs; files $tmp/NAME.{elapsed,wall,rss}; counts failures.
series() {
  local name=$1 p=$2 i t0 t1 rc bad=0
  : >"$tmp/$name.elapsed"
  : >"$tmp/$name.wall"
  : >"$tmp/$name.rss"
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    rc=0
    /usr/bin/time -f %M -o "$tmp/rss1" "$bin" calibrate --no-cache --fields $fields --json >"$tmp/out.json" 2>/dev/null || rc=$?
    t1=$(date +%s%N)
    if [[ $rc -ne 0 ]] || ! jq -e .complete "$tmp/out.json" >/dev/null; then
      bad=$((bad + 1))
    else
      jq .elapsed_ms "$tmp/out.json" >>"$tmp/$name.elapsed"
      echo "scale=3; ($t1 - $t0) / 1000000" | bc >>"$tmp/$name.wall"
      tail -1 "$tmp/rss1" >>"$tmp/$name.rss"
    fi
    [[ $p == 0 ]] || sleep "$p"
  done
  echo "$bad" >"$tmp/$name.bad"
}

# hyperfine's own wall-time view (no shell, its own statistics), if present.
hyper() { # NAME PAUSE
  command -v hyperfine >/dev/null || return 0
  local prep=()
  [[ $2 == 0 ]] || prep=(--prepare "sleep $2")
  hyperfine -N --runs "$runs" "${prep[@]}" --export-json "$tmp/$1.hf.json" \
    "$bin calibrate --no-cache --fields $fields --json" >/dev/null 2>&1 || return 0
  jq -r '.results[0] | .times | sort as $t | ($t | length) as $n |
    [$t[($n / 2 | floor)], $t[(($n * 0.1) | floor)], $t[(($n * 0.9) | floor)], $t[0], $t[-1]] |
    map(. * 1000 * 100 | round / 100) | @tsv' "$tmp/$1.hf.json" >"$tmp/$1.hf"
}

command -v bc >/dev/null || { echo "bench: bc missing" >&2; exit 1; }
"$bin" calibrate --no-cache --fields $fields --json >/dev/null # warm the page cache and check it works
load_before=$(cat /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "bench: $runs runs back to back, then $runs with ${pause} s pauses (load $load_before)" >&2
series back 0
series paused "$pause"
hyper back 0
hyper paused "$pause"
load_after=$(cat /proc/loadavg)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p "$(dirname "$out")"
{
  echo "# Calibration benchmark"
  echo
  echo "A full cold calibration: a fresh \`offsetprobe calibrate --no-cache --fields $fields --json\` process (3 trials,"
  echo "validation, no cache), $runs runs per series, sequential. Made by"
  echo "\`scripts/bench_calibrate.sh\`; figures in ms (RSS in KiB)."
  echo
  echo "- date: $started (commit $commit)"
  echo "- kernel: $(uname -r), $(nproc) CPUs ($cpu), $mem"
  echo "- load average before: $load_before; after: $load_after"
  echo "  (the machine is shared: other builds and tests may run at the same time)"
  echo "- failed runs (exit != 0 or incomplete): back to back $(cat "$tmp/back.bad"), paused $(cat "$tmp/paused.bad")"
  echo
  echo "| series | median | p10 | p90 | min | max | unit |"
  echo "|---|---|---|---|---|---|---|"
  row "in-process elapsed_ms, back to back" "$tmp/back.elapsed" ms
  row "in-process elapsed_ms, ${pause} s pause" "$tmp/paused.elapsed" ms
  row "process wall time, back to back" "$tmp/back.wall" ms
  row "process wall time, ${pause} s pause" "$tmp/paused.wall" ms
  for s in back paused; do
    if [[ -s $tmp/$s.hf ]]; then
      read -r med p10 p90 min max <"$tmp/$s.hf"
      label=$([[ $s == back ]] && echo "back to back" || echo "${pause} s pause (--prepare)")
      printf '| hyperfine -N wall, %s | %s | %s | %s | %s | %s | ms |\n' "$label" "$med" "$p10" "$p90" "$min" "$max"
    fi
  done
  row "peak RSS, back to back" "$tmp/back.rss" KiB
  echo
} >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
