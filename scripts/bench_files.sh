#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (not a test): what the file family adds to a cold calibration.
# Interleaved in one run, N times each: `calibrate --no-cache --fields
# task,cred,ns,mm,audit --json` (every family but files: "before") and
# `--fields all` ("after"). Prints median, p10, p90 of the in-process
# elapsed_ms and of the process wall time, the difference of the medians,
# and how many "after" runs had all 37 file-family fields calibrated.
# Root and BPF needed. Usage: bench_files.sh [-n RUNS] [OFFSETPROBE]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=20
while getopts "n:" opt; do
  case $opt in
  n) runs=$OPTARG ;;
  *) echo "usage: $0 [-n RUNS] [OFFSETPROBE]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
bin=$(realpath "${1:-build/offsetprobe/offsetprobe}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 1; }
export OFFSETPROBE_CACHE_DIR=$tmp/cache

stats() { # FILE: "median p10 p90" (nearest rank)
  sort -g "$1" | awk '{ v[NR] = $1 }
    function rank(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%.1f %.1f %.1f", rank(0.5), rank(0.1), rank(0.9) }'
}
run() { # NAME FIELDS
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$bin" calibrate --no-cache --fields "$2" --json >"$tmp/out.json" 2>/dev/null || rc=$?
  t1=$(date +%s%N)
  [[ $rc -eq 0 ]] || { echo "$1: exit $rc" >&2; return; }
  jq .elapsed_ms "$tmp/out.json" >>"$tmp/$1.elapsed"
  echo "($t1 - $t0) / 1000000" | bc -l >>"$tmp/$1.wall"
  if [[ $1 == after ]]; then
    jq '[.fields[] | select((.struct | IN("files_struct", "fdtable", "file", "path", "dentry",
      "qstr", "inode", "super_block", "mount", "vfsmount", "fs_struct")) or .name == "task_struct.files"
      or .name == "task_struct.fs" or .name == "mm_struct.exe_file")
      | select(.status == "calibrated" and .validation == "passed")] | length' "$tmp/out.json" >>"$tmp/after.files"
  fi
}
: >"$tmp/before.elapsed"; : >"$tmp/before.wall"; : >"$tmp/after.elapsed"; : >"$tmp/after.wall"
: >"$tmp/after.files"
for ((i = 0; i < runs; i++)); do
  run before task,cred,ns,mm,audit
  run after all
done
read -r bm b10 b90 <<<"$(stats "$tmp/before.elapsed")"
read -r am a10 a90 <<<"$(stats "$tmp/after.elapsed")"
read -r bw bw10 bw90 <<<"$(stats "$tmp/before.wall")"
read -r aw aw10 aw90 <<<"$(stats "$tmp/after.wall")"
echo "runs: $runs each, interleaved; $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| fields | elapsed_ms median (p10-p90) | wall ms median (p10-p90) |"
echo "|---|---|---|"
echo "| before (all but files) | $bm ($b10-$b90) | $bw ($bw10-$bw90) |"
echo "| after (all) | $am ($a10-$a90) | $aw ($aw10-$aw90) |"
echo "the file family adds $(echo "$am - $bm" | bc) ms (elapsed median), $(echo "$aw - $bw" | bc) ms (wall median)"
echo "after runs with all 37 file fields calibrated and read back: $(grep -cx 37 "$tmp/after.files") of $(wc -l <"$tmp/after.files")"
