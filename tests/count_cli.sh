#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `offsetprobe count` end to end: a subject making exactly N calls shows up
# with count N, check "ok" and the start ticks of /proc/<pid>/stat field 22;
# --json objects per interval and a final one; SIGINT and SIGTERM stop it
# cleanly (130, 143) with the summary; usage errors exit 2.
# Usage: count_cli.sh OFFSETPROBE_BINARY COUNT_SUBJECT_BINARY
set -uo pipefail
bin=$1 subject=$2
tmp=$(mktemp -d)
failures=0
cleanup() { [[ -n ${cpid:-} ]] && kill "$cpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# Usage errors need no root.
"$bin" count --syscall nope -d 1 >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] && grep -q "unknown syscall nope" "$tmp/err" && ok "unknown syscall" || fail "unknown syscall: rc $rc"
"$bin" count -d 1 >/dev/null 2>&1; rc=$?
[[ $rc -eq 2 ]] && ok "--syscall required" || fail "--syscall required: rc $rc"

skip() {
  if [[ ${CI:-} == true ]]; then fail "SKIP not allowed under CI=true: $1"; else echo "SKIP: $1"; fi
  exit $((failures > 0))
}
[[ $(id -u) -eq 0 ]] || skip "not root: the counting probe needs CAP_BPF and CAP_PERFMON"

# Starts `count --json` in the background; waits until it counts.
start_count() {
  rm -f "$tmp/out" "$tmp/err" # the previous run's "Ctrl-C stops" must not count
  "$bin" count --syscall getppid --json --interval 0.2 "$@" >"$tmp/out" 2>"$tmp/err" &
  cpid=$!
  for _ in $(seq 100); do
    grep -qs "Ctrl-C stops" "$tmp/err" && return 0
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/err"
  if grep -q "exit\|permission\|BPF" "$tmp/err"; then skip "BPF unavailable: $(tail -1 "$tmp/err")"; fi
  fail "count did not start"; exit 1
}

# run_subject CALLS THREADS: runs count_subject, sets spid and sticks (field 22).
run_subject() {
  coproc SUBJ { exec "$subject" 110 "$1" "$2"; }
  read -r line <&"${SUBJ[0]}"
  spid=$SUBJ_PID
  sticks=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$spid/stat")
  echo g >&"${SUBJ[1]}"
  read -r line <&"${SUBJ[0]}"
  sleep 0.5 # an interval passes while the subject lives: its key is checked
  exec {SUBJ[1]}>&-
  wait "$spid"
}

start_count --duration 30
run_subject 1234 0
kill -INT "$cpid"; wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 130 ]] && ok "SIGINT exits 130" || fail "SIGINT exit $rc"
final=$(tail -1 "$tmp/out")
row=$(jq -c --argjson p "$spid" '.processes[] | select(.pid == $p)' <<<"$final")
[[ $(jq -r .final <<<"$final") == true && $(jq -r .stopped_by <<<"$final") == SIGINT ]] &&
  ok "final JSON object" || fail "final JSON object: $final"
[[ $(jq -r .count <<<"$row") == 1234 ]] && ok "exact count" || fail "count: $row"
[[ $(jq -r .start_ticks <<<"$row") == "$sticks" ]] && ok "start ticks == /proc/$spid/stat field 22 ($sticks)" ||
  fail "start ticks: $row, /proc says $sticks"
[[ $(jq -r .check <<<"$row") == exited ]] && ok "key checked while alive, then exited" || fail "check: $row"
[[ $(jq -r .comm <<<"$row") == count_subject ]] && ok "comm from /proc" || fail "comm: $row"
[[ $(grep -c '"interval_s"' "$tmp/out") -ge 3 ]] && ok "one JSON object per interval" || fail "intervals"
[[ $(jq -s '[.[] | .mismatches] | max' "$tmp/out") == 0 ]] && ok "no mismatches" || fail "mismatches"

start_count --duration 30 --pid $$
run_subject 10 2
kill -TERM "$cpid"; wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 143 ]] && ok "SIGTERM exits 143" || fail "SIGTERM exit $rc"
[[ $(tail -1 "$tmp/out" | jq --argjson p "$spid" '[.processes[] | select(.pid == $p)] | length') == 0 ]] &&
  ok "--pid counts that process only" || fail "--pid: $(tail -1 "$tmp/out")"

start_count --duration 3
run_subject 500 4
wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 0 ]] && ok "--duration exits 0" || fail "--duration exit $rc"
row=$(tail -1 "$tmp/out" | jq -c --argjson p "$spid" '.processes[] | select(.pid == $p)')
[[ $(jq -r .count <<<"$row") == 2000 && $(jq -r .stopped_by <<<"$(tail -1 "$tmp/out")") == --duration ]] &&
  ok "threads under the leader's key" || fail "threads: pid $spid: $row; $(tail -1 "$tmp/out" | head -c 600)"

# Inside a pid namespace: keys and --pid use the namespace's pids.
if unshare -p -f --mount-proc true 2>/dev/null; then
  export bin subject tmp
  unshare -p -f --mount-proc bash -c '
    "$bin" count -s getppid --json -i 0.2 -d 4 >"$tmp/ns.out" 2>"$tmp/ns.err" &
    for _ in $(seq 100); do grep -q "Ctrl-C stops" "$tmp/ns.err" && break; sleep 0.1; done
    coproc S { exec "$subject" 110 77 0; }
    read -r l <&"${S[0]}"
    echo "$S_PID $(awk "{ sub(/.*\\) /, \"\"); print \$20 }" /proc/$S_PID/stat)" >"$tmp/ns.subject"
    echo g >&"${S[1]}"; read -r l <&"${S[0]}"; sleep 0.5
    exec {S[1]}>&-; wait $S_PID; wait'
  read -r nspid nsticks <"$tmp/ns.subject"
  row=$(tail -1 "$tmp/ns.out" | jq -c --argjson p "$nspid" '.processes[] | select(.pid == $p)')
  [[ $(jq -r .count <<<"$row") == 77 && $(jq -r .start_ticks <<<"$row") == "$nsticks" &&
     $(jq -r .check <<<"$row") == exited ]] &&
    ok "pid namespace: pid $nspid as the namespace sees it" || fail "pid namespace: $row; $(cat "$tmp/ns.err")"
else
  echo "SKIP: unshare -p not permitted: pid namespace case not run"
fi

# Nothing left behind: no counter program stays loaded.
if bpftool prog show 2>/dev/null | grep -q "count_raw\|count_tp\|count_exit"; then
  fail "a counter program is still loaded"
else
  ok "programs unloaded"
fi
exit $((failures > 0))
