#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Faults at each stage of a calibration. The test-only stage hook
# (OFFSETPROBE_TEST_STAGE_HOOK=<stage>, docs/reliability.md) stops the
# calibrator at a stage; the test then kills one subject (the host, a leader,
# a leader's thread, the grandchild), stops the host (a hang) or sends SIGINT
# or SIGTERM to the calibrator, and continues it. Every case must end with
# its exit code (9 subject, 130 SIGINT, 143 SIGTERM) and its own message (a
# killed subject is reported as a death, never as a timeout; a hung one as a
# timeout), leave no process of the calibrator's tree and nothing of its run
# anywhere in the process table, alive or zombie (lib_live.sh run_tasks),
# leave none of the BPF programs, maps and links it held mid-run, and leave
# the cache directory byte for byte as it was (the run uses --force on a
# directory holding a valid entry from an earlier run).
# Usage: faults.sh OFFSETPROBE_BINARY   (env FAULTS_ONLY=extra: see below)
set -uo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
chmod 755 "$tmp"
cal=""
cleanup() {
  [[ -n $cal ]] && kill -KILL "$cal" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
need_live

cache=$tmp/cache
rc=0
"$bin" --cache-dir "$cache" calibrate >"$tmp/first.out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || skip "a first calibration fails here (exit $rc): $(tail -1 "$tmp/first.out")"
cache_state() {
  (cd "$cache" && find . -printf '%p %y %s %m %T@\n' | sort && cat ./*.json | sha256sum)
}
cache_before=$(cache_state)
objects_before=$(our_objects)
# The hang cases wait out this timeout. The others run with a long one: the
# calibrator sits stopped at the stage while the test acts, and on a loaded
# machine a short deadline could expire during the stop, which would turn a
# death into a timeout before the calibrator even looked.
timeout_ms=1500
long_timeout_ms=30000

# run_case STAGE ACTION WANT_RC MESSAGE_REGEX [NOT_REGEX]: the message must
# match MESSAGE_REGEX and not NOT_REGEX.
# CASE_TIMEOUT_MS and STOPPED_FOR (seconds the calibrator stays stopped after
# the action, default 0.05) override the defaults for one case.
run_case() {
  local stage=$1 action=$2 want=$3 msg=$4 not=${5:-} name="$1 / $2"
  local t=$long_timeout_ms
  [[ $action == hang-host ]] && t=$timeout_ms
  t=${CASE_TIMEOUT_MS:-$t}
  : >"$tmp/err"
  # setsid: the run's session marks everything it starts (run_tasks).
  OFFSETPROBE_TEST_STAGE_HOOK=$stage setsid "$bin" --cache-dir "$cache" calibrate --force \
    --timeout "$t" >"$tmp/out" 2>"$tmp/err" &
  cal=$!
  local sid=$cal state=""
  for _ in $(seq 200); do # up to 10 s to reach the stage
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$cal/stat" 2>/dev/null)
    [[ $state == T ]] && grep -q 'test stage hook' "$tmp/err" && break
    [[ -z $state ]] && break
    sleep 0.05
  done
  if [[ $state != T ]]; then
    fail "$name: the calibrator never stopped at the stage" "$tmp/err"
    kill -KILL "$cal" 2>/dev/null
    wait "$cal" 2>/dev/null
    cal=""
    return
  fi
  sleep 0.1 # subjects run on while the calibrator is stopped: let them settle
  local pids host leader thread grandchild
  pids=$(sed -nE 's/.*test stage hook: .* pids=([0-9,]+)$/\1/p' "$tmp/err" | tr , ' ')
  host=$(echo $pids | cut -d' ' -f1)
  leader=$(echo $pids | cut -d' ' -f2)
  thread=$(ls "/proc/$leader/task" 2>/dev/null | grep -vx "$leader" | head -1)
  grandchild=$(pgrep -P "$leader" | head -1)
  local everyone ids
  everyone=$(tree "$cal" | grep -vx "$cal")
  ids=$(bpf_ids "$cal")
  local target=""
  case $action in
  kill-host) target=$host ;;
  kill-leader) target=$leader ;;
  kill-thread) target=$thread ;;
  kill-grandchild) target=$grandchild ;;
  kill-held-grandchild)
    # The real G of the held validation leader (a child of the host): the
    # child of a leader traced by the leader's thread T. The first child
    # (kill-grandchild) is the creds subject C, forked before G.
    local l c
    for _ in $(seq 100); do
      for l in $(pgrep -P "$host"); do
        for c in $(pgrep -P "$l"); do
          [[ $(awk '/^TracerPid:/ { print $2 }' "/proc/$c/status" 2>/dev/null) -gt 0 ]] &&
            target=$c
        done
      done
      [[ -n $target ]] && break
      sleep 0.05
    done
    ;;
  hang-host) target=$host ;;
  esac
  case $action in
  kill-*)
    [[ -n $target ]] || { fail "$name: no such subject at this stage (pids $pids)"; }
    kill -KILL "$target"
    ;;
  hang-host) kill -STOP "$target" ;;
  SIGINT | SIGTERM) kill -"${action#SIG}" "$cal" ;;
  esac
  sleep "${STOPPED_FOR:-0.05}"
  kill -CONT "$cal"
  rc=0
  wait "$cal" || rc=$?
  cal=""
  local ok_case=1
  if [[ $rc -ne $want ]]; then
    fail "$name: exit $rc, want $want" "$tmp/err" "$tmp/out"
    ok_case=0
  elif ! grep -v 'test stage hook' "$tmp/err" | grep -Eq "$msg"; then
    fail "$name: no message matching /$msg/" "$tmp/err"
    ok_case=0
  elif [[ -n $not ]] && grep -v 'test stage hook' "$tmp/err" | grep -Eq "$not"; then
    fail "$name: the message says /$not/: not this case's own fault" "$tmp/err"
    ok_case=0
  fi
  expect_run_gone "$name" "$sid" $everyone || ok_case=0
  expect_bpf_gone "$name" "$ids" || ok_case=0
  if [[ $(cache_state) != "$cache_before" ]]; then
    fail "$name: the cache directory changed"
    diff <(echo "$cache_before") <(cache_state) | sed 's/^/    /'
    ok_case=0
  fi
  [[ $ok_case -eq 1 ]] &&
    ok "$name: exit $rc, \"$(grep -v 'test stage hook' "$tmp/err" | head -1 | cut -c1-110)\"" \
      "($(echo $everyone | wc -w) tasks gone, $(echo "$ids" | wc -l) BPF objects gone, cache unchanged)"
}

# A death: the host or a subject died, is gone or exited, or was captured at
# its exit (the scanner saw it die; killing the host kills its subjects).
# SIGKILL to a thread kills its whole process, so kill-thread is a death of
# its leader. Never a timeout: that is the hang case's message.
died='died|is gone|exited|captured [0-9]+ times, last at exit'
timed_out='did not (answer|exit) within|hung'
# FAULTS_ONLY=extra runs only the two cases after the stage loop (a quick
# check of those, e.g. against an older binary).
stages="trial-spawned trial-ready trial-released validate-spawned validate-ready"
[[ ${FAULTS_ONLY:-} == extra ]] && stages=""
for stage in $stages; do
  run_case "$stage" kill-host 9 "$died" "$timed_out"
  # After trial-released the trial leaders are gone by design: no target.
  if [[ $stage != trial-released ]]; then
    run_case "$stage" kill-leader 9 "$died" "$timed_out"
    run_case "$stage" kill-thread 9 "$died" "$timed_out"
    run_case "$stage" kill-grandchild 9 "$died" "$timed_out"
  fi
  run_case "$stage" hang-host 9 "did not (answer|exit) within $timeout_ms ms" "$died"
  run_case "$stage" SIGINT 130 "interrupted \(SIGINT\)"
  run_case "$stage" SIGTERM 143 "terminated"
done

# G of a held validation leader killed while the leader waits for "go": the
# leader must see G's death as an EOF (it holds no write end of G's pipes)
# and die at once with its own code, reported as such; before (#21), it
# waited on G's pipe, whose write end it held, until --timeout.
run_case trial-released kill-held-grandchild 9 "died during the experiment \(exit code 10: its grandchild died\)" "$timed_out"
# A death that came while the calibrator was not reading (stopped here for
# longer than its --timeout) is a death, not a timeout: past its deadline
# the calibrator looks once more before it calls a subject hung.
CASE_TIMEOUT_MS=1000 STOPPED_FOR=1.5 run_case trial-spawned kill-leader 9 "$died" "$timed_out"

# Nothing of ours that was not there before (ids, by name; see lib_live.sh).
expect_no_new_objects "after all cases" "$objects_before" &&
  ok "no scanner/reader program, map or link left loaded that was not there before"
finish
