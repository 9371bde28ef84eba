#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `offsetprobe opens` end to end against tests/opens_workload.c, which opens
# known paths while opens traces it (--pid): nested directories in a private
# tmpfs mount, a file of the host's file system, the same file through a bind
# mount, through a symlink, a deleted file (reopened through
# /proc/self/fd/N), a path deeper than the walk's step bound and one longer
# than its byte bound. Each record: the kernel's path equals readlink
# /proc/<pid>/fd/N (opens' own check says "ok", "deleted" with the same path,
# or "truncated" with the path's tail) and the path the workload expects;
# comm and the executable from the kernel; no "mismatch" at all. Then
# SIGINT/SIGTERM/--duration end it with 130/143/0 and the summary, and every
# BPF object it held is gone. Root + BPF + bpftool + jq; skips (77) with the
# reason otherwise, fails under CI=true. The offsets come from a private
# cache (the first run calibrates the families it needs into it).
# Usage: opens_live.sh OFFSETPROBE_BINARY OPENS_WORKLOAD_BINARY
set -uo pipefail
bin=$1 workload=$2
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
  [[ -n ${opid:-} ]] && kill "$opid" 2>/dev/null
  [[ -n ${wpid:-} ]] && kill "$wpid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
export OFFSETPROBE_CACHE_DIR=$tmp/cache
held=""

need_live

# start_opens ARGS...: opens --json in the background, waits until it traces.
start_opens() {
  rm -f "$tmp/out" "$tmp/err"
  "$bin" opens --json "$@" >"$tmp/out" 2>"$tmp/err" &
  opid=$!
  # The first run calibrates into the private cache: allow two minutes.
  for _ in $(seq 1200); do
    if grep -qs "Ctrl-C stops" "$tmp/err"; then
      held+=$'\n'$(bpf_ids "$opid")
      return 0
    fi
    kill -0 "$opid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$opid"
  rc=$?
  cat "$tmp/err"
  [[ $rc -eq 7 || $rc -eq 10 ]] && skip "BPF unavailable (exit $rc): $(tail -1 "$tmp/err")"
  fail "opens did not start (exit $rc)"
  finish
}

# The workload, paused after its set-up.
base=$tmp/base
mkdir -p "$base"
coproc W { exec "$workload" "$base" 2000 2>"$tmp/werr"; }
wpid=$W_PID
workpid=$wpid
read -r -t 30 word _ <&"${W[0]}"
[[ $word == ready ]] || { fail "workload did not start" "$tmp/werr"; finish; }

start_opens --pid "$wpid"
echo go >&"${W[1]}"
declare -A fds expect
while read -r -t 30 word fd name path <&"${W[0]}"; do
  [[ $word == done ]] && break
  fds[$name]=$fd
  expect[$name]=$path
done
[[ ${#fds[@]} -eq 7 ]] || fail "workload reported ${#fds[@]} opens, not 7" "$tmp/werr"
wait "$wpid" 2>/dev/null
wpid=""
sleep 0.3
kill -INT "$opid"
wait "$opid"
rc=$?
opid=""
[[ $rc -eq 130 ]] && ok "SIGINT: exit 130" || fail "SIGINT: exit $rc, not 130" "$tmp/err"
jq -e -s 'last | .final and .stopped_by == "SIGINT"' "$tmp/out" >/dev/null &&
  ok "final summary object" || fail "no final summary" "$tmp/out"

# record NAME: the record of that case's fd (the workload's pid).
record() {
  jq -c -s --argjson pid "$workpid" --argjson fd "${fds[$1]}" \
    '[.[] | select(.pid == $pid and .fd == $fd)] | last' "$tmp/out"
}
wexe=$(realpath "$workload")
wcomm=$(basename "$workload" | cut -c1-15)
for name in nested plain bind symlink deleted deep long; do
  r=$(record "$name")
  if [[ -z $r || $r == null ]]; then
    fail "$name: no record of fd ${fds[$name]:-?}"
    continue
  fi
  path=$(jq -r .path <<<"$r")
  check=$(jq -r .check <<<"$r")
  want=${expect[$name]}
  case $name in
  deep | long)
    # The walk stopped at its bound: its names are the path's tail.
    if [[ $(jq -r .truncated <<<"$r") == true && $check == truncated && $want == *"$path" &&
      ${#path} -lt ${#want} ]]; then
      ok "$name: truncated at $(jq -r .depth <<<"$r") names, the tail of readlink's path"
    else
      fail "$name: check $check, truncated $(jq -r .truncated <<<"$r"), path ${path:0:80}..."
    fi
    ;;
  deleted)
    [[ $check == deleted && $path == "$want" ]] && ok "deleted: $path (readlink adds \" (deleted)\")" ||
      fail "deleted: check $check, path $path, expected $want"
    ;;
  *)
    [[ $check == ok && $path == "$want" ]] && ok "$name: $path" ||
      fail "$name: check $check, path $path, expected $want"
    ;;
  esac
  exe=$(jq -r .exe <<<"$r")
  from=$(jq -r .exe_from <<<"$r")
  comm=$(jq -r .comm <<<"$r")
  [[ $exe == "$wexe" && $from == kernel && $comm == "$wcomm" ]] ||
    fail "$name: comm $comm, exe $exe from $from (expected $wcomm, $wexe from kernel)"
done
n=$(jq -s '[.[] | select(.check == "mismatch")] | length' "$tmp/out")
[[ $n -eq 0 ]] && ok "no mismatch in $(jq -s '[.[] | select(.fd)] | length' "$tmp/out") records" ||
  fail "$n records differ from readlink" <(jq -c 'select(.check == "mismatch")' "$tmp/out")

# SIGTERM and --duration, every process (no --pid): 143 and 0, a summary each.
start_opens
kill -TERM "$opid"
wait "$opid"
rc=$?
opid=""
[[ $rc -eq 143 ]] && jq -e -s 'last | .stopped_by == "SIGTERM"' "$tmp/out" >/dev/null &&
  ok "SIGTERM: exit 143 with the summary" || fail "SIGTERM: exit $rc" "$tmp/err"
start_opens --duration 1
wait "$opid"
rc=$?
opid=""
[[ $rc -eq 0 ]] && jq -e -s 'last | .stopped_by == "--duration"' "$tmp/out" >/dev/null &&
  ok "--duration: exit 0 with the summary" || fail "--duration: exit $rc" "$tmp/err"
n=$(jq -s '[.[] | select(.check == "mismatch")] | length' "$tmp/out")
[[ $n -eq 0 ]] || fail "--duration (all processes): $n records differ from readlink" \
  <(jq -c 'select(.check == "mismatch")' "$tmp/out")
expect_bpf_gone "opens runs" "$(grep . <<<"$held")"
finish
