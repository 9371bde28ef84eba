#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Full calibration, libbpf vs BCC backend, in one run: wall time (outside the
# process, fork to exit), the calibrator's own elapsed_ms, and peak RSS
# (/usr/bin/time %M). Median over RUNS runs of each, interleaved so that load
# from other work on the machine hits both alike.
#
# "Cold" means a fresh process with nothing cached by offsetprobe: the BCC
# side compiles its scanner and its reader from source each time, as Pixie's
# resolver did. The page cache is left as it is (dropping it would disturb
# everything else on a shared host); run 1 is reported apart for that reason.
#
# Then `offsetprobe conn` on each backend: the time from its start to watching
# ("Ctrl-C stops": offsets from a private cache holding the net family, the
# probe loaded, or compiled by BCC, and attached) and its peak RSS then
# (VmHWM).
#
# Then the counting probe, libbpf vs BCC (same kernel program, so the cost per
# event should be the same; only the start differs, by BCC's compile): the
# time from `offsetprobe count` start to counting ("Ctrl-C stops", offsets
# from the cache), and the wall time of COUNT_CALLS getppid calls of
# tests/count_subject with no probe and under each backend, per call.
#
# Usage: [FIELDS=task|all] scripts/bench_backends.sh [BUILD_DIR] [RUNS] [COUNT_CALLS]
#        (root; default task, build, 5, 1000000; COUNT_CALLS 0 skips the count
#        part). FIELDS=all adds the pointer chains (a third program, the chain
#        scanner, and a larger reader for each backend).
set -euo pipefail
build=${1:-build}
runs=${2:-5}
count_calls=${3:-1000000}
fields=${FIELDS:-task}
[[ $fields == task || $fields == all ]] || { echo "bench: FIELDS must be task or all" >&2; exit 1; }
op=$build/offsetprobe/offsetprobe
[[ -x $op ]] || { echo "bench: $op not built" >&2; exit 1; }
[[ -x $build/offsetprobe/offsetprobe-bcc ]] || { echo "bench: offsetprobe-bcc not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run BACKEND I: one calibration; appends "wall_ms elapsed_ms rss_kib" to $tmp/BACKEND
run() {
  local backend=$1 args=()
  [[ $backend == bcc ]] && args=(--backend bcc)
  local t0 t1
  t0=$(date +%s%N)
  # Both backends run the same experiments for either field set.
  /usr/bin/time -f '%M' -o "$tmp/time" "$op" -q calibrate --no-cache --fields "$fields" "${args[@]}" \
    --json >"$tmp/out.json"
  t1=$(date +%s%N)
  local elapsed
  elapsed=$(jq .elapsed_ms "$tmp/out.json")
  jq -e '[.fields[] | .status == "calibrated"] | all' "$tmp/out.json" >/dev/null ||
    { echo "bench: $backend run $2 did not calibrate every field" >&2; exit 1; }
  echo "$(((t1 - t0) / 1000)) $elapsed $(tail -1 "$tmp/time")" >>"$tmp/$backend"
}

for i in $(seq 1 "$runs"); do
  run libbpf "$i"
  run bcc "$i"
done

# median FILE COLUMN
median() {
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {
    if (NR % 2) printf "%.3f", v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2 }'
}

uname_r=$(uname -r)
echo "offsetprobe calibrate --fields $fields, libbpf vs BCC: $runs runs each, kernel $uname_r, $(nproc) CPUs"
printf '%-8s %14s %14s %12s %12s %14s\n' BACKEND "WALL_MS(med)" "CALIB_MS(med)" "RSS_KIB(med)" "RSS_MIB" "WALL_MS(run1)"
for b in libbpf bcc; do
  wall=$(median "$tmp/$b" 1 | awk '{printf "%.1f", $1/1000}')
  calib=$(median "$tmp/$b" 2 | awk '{printf "%.1f", $1}')
  rss=$(median "$tmp/$b" 3 | awk '{printf "%d", $1}')
  first=$(head -1 "$tmp/$b" | awk '{printf "%.1f", $1/1000}')
  printf '%-8s %14s %14s %12s %12s %14s\n' "$b" "$wall" "$calib" "$rss" \
    "$(awk -v r="$rss" 'BEGIN{printf "%.1f", r/1024}')" "$first"
done
wl=$(median "$tmp/libbpf" 1); wb=$(median "$tmp/bcc" 1)
cl=$(median "$tmp/libbpf" 2); cb=$(median "$tmp/bcc" 2)
rl=$(median "$tmp/libbpf" 3); rb=$(median "$tmp/bcc" 3)
awk -v wl="$wl" -v wb="$wb" -v cl="$cl" -v cb="$cb" -v rl="$rl" -v rb="$rb" 'BEGIN {
  printf "libbpf is %.1fx faster (wall, process start to exit), %.1fx (calibrator elapsed_ms); BCC uses %.1fx the RSS\n", wb/wl, cb/cl, rb/rl }'

# start_timed ERR CMD...: CMD in the background (stderr in ERR) until it says
# "Ctrl-C stops"; its pid in $spid, the time that took in $start_us.
start_timed() {
  local err=$1 t0
  shift
  t0=$(date +%s%N)
  "$@" >/dev/null 2>"$err" &
  spid=$!
  until grep -qs "Ctrl-C stops" "$err"; do
    kill -0 "$spid" 2>/dev/null || { echo "bench: $* failed:" >&2; cat "$err" >&2; exit 1; }
    sleep 0.01
  done
  start_us=$((($(date +%s%N) - t0) / 1000))
}

# --- conn, libbpf vs BCC: its start. ---
"$op" --cache-dir "$tmp/cache" -q calibrate --fields net >/dev/null
# conn_run BACKEND: starts conn, times its start, takes its peak RSS.
conn_run() {
  start_timed "$tmp/conn.err" "$op" --cache-dir "$tmp/cache" conn --backend "$1" --json -i 60
  echo "$start_us $(awk '/^VmHWM:/ { print $2 }' "/proc/$spid/status")" >>"$tmp/conn-$1"
  kill -INT "$spid"; wait "$spid" || true
}
for i in $(seq 1 "$runs"); do
  conn_run libbpf
  conn_run bcc
done
echo
echo "offsetprobe conn, start to watching (offsets cached), $runs runs each"
printf '%-8s %16s %18s\n' BACKEND "START_MS(med)" "PEAK_RSS_MIB(med)"
for b in libbpf bcc; do
  printf '%-8s %16s %18s\n' "$b" "$(median "$tmp/conn-$b" 1 | awk '{printf "%.1f", $1/1000}')" \
    "$(median "$tmp/conn-$b" 2 | awk '{printf "%.1f", $1/1024}')"
done

# --- The counting probe, libbpf vs BCC. ---
subject=$build/tests/count_subject
if [[ $count_calls -eq 0 || ! -x $subject ]]; then
  echo "count: skipped (COUNT_CALLS 0 or $subject not built)"
  exit 0
fi
"$op" -q calibrate >/dev/null # offsets cached: count starts without calibrating

# subject_ns: COUNT_CALLS getppid calls in one process; prints their wall ns.
subject_ns() {
  coproc SUBJ { exec "$subject" 110 "$count_calls" 0; }
  local line
  read -r line <&"${SUBJ[0]}"
  echo g >&"${SUBJ[1]}"
  read -r line <&"${SUBJ[0]}"
  exec {SUBJ[1]}>&-
  wait "$SUBJ_PID" || true
  echo "${line#done }"
}

# count_run BACKEND: starts count, times its start, runs the subject under it.
count_run() {
  local ns
  start_timed "$tmp/count.err" "$op" count --backend "$1" --hook tracepoint -s getppid --json -i 60
  ns=$(subject_ns)
  kill -INT "$spid"; wait "$spid" || true
  echo "$start_us $ns" >>"$tmp/count-$1"
}

for i in $(seq 1 "$runs"); do
  echo "0 $(subject_ns)" >>"$tmp/count-none"
  count_run libbpf
  count_run bcc
done
echo
echo "offsetprobe count (tracepoint hook), $count_calls getppid calls per run, $runs runs each"
printf '%-8s %16s %16s %18s\n' BACKEND "START_MS(med)" "CALLS_MS(med)" "ADDED_NS/CALL(med)"
base=$(median "$tmp/count-none" 2)
for b in none libbpf bcc; do
  start=$(median "$tmp/count-$b" 1 | awk '{printf "%.1f", $1/1000}')
  calls=$(median "$tmp/count-$b" 2)
  printf '%-8s %16s %16s %18s\n' "$b" "$([[ $b == none ]] && echo - || echo "$start")" \
    "$(awk -v c="$calls" 'BEGIN{printf "%.1f", c/1e6}')" \
    "$(awk -v c="$calls" -v b="$base" -v n="$count_calls" 'BEGIN{printf "%.1f", (c-b)/n}')"
done
