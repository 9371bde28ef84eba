#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `offsetprobe count` names processes from the kernel: with the file family
# in the cache, 20 short-lived processes (each exits within milliseconds,
# long before the next report reads /proc) are every one named with their
# comm (each its own, through a symlink of count_subject) and their
# executable's path (mm->exe_file, the symlink's target), "name_from":
# "kernel", and no row of the run shows "-". Without the file family (a
# cache of --fields task) count still counts them exactly and says its
# names come from /proc only. Root + BPF + bpftool + jq; skips (77) with the
# reason otherwise, fails under CI=true.
# Usage: count_names.sh OFFSETPROBE_BINARY COUNT_SUBJECT_BINARY
set -uo pipefail
bin=$1 subject=$2
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() { [[ -n ${cpid:-} ]] && kill "$cpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
held=""
need_live
nr=110 # getppid on x86_64
[[ $(uname -m) == aarch64 ]] && nr=173
mkdir -p "$tmp/bin"
for i in $(seq -w 0 19); do ln -s "$(realpath "$subject")" "$tmp/bin/short$i"; done
want_exe=$(realpath "$subject")

# count_run: count getppid (1 s reports) while 20 short-lived processes run
# one after the other; their pids in pids, the run's output in $tmp/out.
count_run() {
  rm -f "$tmp/out" "$tmp/err"
  "$bin" count --syscall getppid --json --interval 1 >"$tmp/out" 2>"$tmp/err" &
  cpid=$!
  for _ in $(seq 1200); do grep -qs "Ctrl-C stops" "$tmp/err" && break; sleep 0.1; done
  grep -qs "Ctrl-C stops" "$tmp/err" || { fail "count did not start" "$tmp/err"; finish; }
  held+=$'\n'$(bpf_ids "$cpid")
  pids=()
  for i in $(seq -w 0 19); do
    "$tmp/bin/short$i" "$nr" 3 0 <<<g >/dev/null &
    pids+=($!)
    wait $!
  done
  sleep 1.5
  kill -INT "$cpid"
  wait "$cpid"
  rc=$?
  cpid=""
  [[ $rc -eq 130 ]] || fail "count: exit $rc" "$tmp/err"
}

# With the file family: the cache holds files + task_struct.mm (+ task).
export OFFSETPROBE_CACHE_DIR=$tmp/cache-files
"$bin" -q calibrate --fields files,mm >/dev/null 2>"$tmp/cal.err" ||
  { fail "calibrate --fields files,mm: exit $?" "$tmp/cal.err"; finish; }
count_run
grep -q "names (comm, executable) from the kernel" "$tmp/err" && ok "names from the kernel" ||
  fail "count did not take names from the kernel" "$tmp/err"
final=$(tail -1 "$tmp/out")
named=0
for i in "${!pids[@]}"; do
  row=$(jq -c --argjson p "${pids[$i]}" '.processes[] | select(.pid == $p)' <<<"$final")
  want=short$(printf %02d "$i")
  if [[ $(jq -r .comm <<<"$row") == "$want" && $(jq -r .exe <<<"$row") == "$want_exe" &&
    $(jq -r .name_from <<<"$row") == kernel && $(jq -r .count <<<"$row") == 3 ]]; then
    named=$((named + 1))
  else
    fail "pid ${pids[$i]} ($want): $row"
  fi
done
[[ $named -eq 20 ]] && ok "20 of 20 short-lived processes named (comm and $want_exe), 3 calls each"
dash=$(jq '[.processes[] | select(.comm == "-")] | length' <<<"$final")
[[ $dash -eq 0 ]] && ok "no \"-\" in $(jq '.processes | length' <<<"$final") rows" ||
  fail "$dash rows named \"-\"" <(jq -c '.processes[] | select(.comm == "-")' <<<"$final")

# Without the file family: still counting, names from /proc only (stated).
export OFFSETPROBE_CACHE_DIR=$tmp/cache-task
"$bin" -q calibrate --fields task >/dev/null 2>"$tmp/cal.err" ||
  { fail "calibrate --fields task: exit $?" "$tmp/cal.err"; finish; }
count_run
grep -q "names from /proc only" "$tmp/err" && ok "fallback stated: $(grep -o 'names from /proc only[^;]*' "$tmp/err" | head -1)" ||
  fail "no fallback message" "$tmp/err"
final=$(tail -1 "$tmp/out")
n=$(jq --argjson ps "$(printf '%s\n' "${pids[@]}" | jq -s .)" \
  '[.processes[] | select(.pid as $p | $ps | index($p)) | select(.count == 3 and .name_from != "kernel")] | length' <<<"$final")
[[ $n -eq 20 ]] && ok "fallback: 20 processes counted exactly, none named by the kernel" ||
  fail "fallback: $n of 20 rows as expected" <(echo "$final")
expect_bpf_gone "count runs" "$(grep . <<<"$held")"
finish
