#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# No zombie under a PID 1 that never reaps (issue #20): in a container whose
# PID 1 is an agent that reaps nothing, every subject the kernel reparents to
# PID 1 would stay a zombie forever. Here PID 1 of a new pid namespace only
# sleeps; `calibrate` and `count` run inside it (nsenter: their parent is
# outside, so every orphan of theirs goes to that PID 1). After each case,
# successful or failed, PID 1 must have no child at all (alive or zombie),
# and nothing of the run may be left anywhere in the process table
# (lib_live.sh run_tasks).
# Usage: zombies.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
chmod 755 "$tmp"
holder=""
init=""
cal=""
cleanup() {
  [[ -n $cal ]] && kill -KILL "$cal" 2>/dev/null
  # The namespace's PID 1 first: its death kills everything inside.
  [[ -n $init ]] && kill -KILL "$init" 2>/dev/null
  [[ -n $holder ]] && kill -KILL "$holder" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
command -v unshare >/dev/null && command -v nsenter >/dev/null ||
  skip "unshare/nsenter (util-linux) are not installed"

# PID 1 of the namespace: sleep, which never calls wait().
unshare --pid --fork --kill-child --mount-proc sleep 100000 &
holder=$!
for _ in $(seq 100); do
  init=$(pgrep -P "$holder" | head -1)
  [[ -n $init ]] && break
  sleep 0.05
done
[[ -n $init ]] || skip "cannot make a pid namespace here (unshare --pid --fork failed)"
[[ $(awk '/^NSpid:/ { print $NF }' "/proc/$init/status") == 1 ]] ||
  skip "sleep is not PID 1 of its namespace"

cache=$tmp/cache
mkdir -p "$cache"
# in_ns ARGS...: offsetprobe ARGS... inside the namespace, in a session of
# its own (setsid: the run's marker); prints nothing, sets $cal to the
# calibrator's pid as this (outer) /proc numbers it, $sid to its session.
in_ns() {
  setsid nsenter -t "$init" -p -m "$bin" --cache-dir "$cache" "$@" >"$tmp/out" 2>"$tmp/err" &
  sid=$!
  cal=""
  for _ in $(seq 200); do
    cal=$(pgrep -P "$sid" | head -1)
    [[ -n $cal ]] && return 0
    kill -0 "$sid" 2>/dev/null || return 0 # already over
    sleep 0.01
  done
}

# wait_run NAME: waits for the run ($sid) to end and sets $rc to its exit
# code. nsenter stops itself when its child stops (util-linux) and may do so
# only after the test has sent it SIGCONT: it is continued whenever it is
# found stopped. A run that has not ended within 120 s (the calibrator is
# given --timeout 1500 or ends in seconds) is a failure, not the test's
# timeout: what is stopped is named, then everything of it is killed.
wait_run() {
  local name=$1 deadline=$((SECONDS + 120)) st
  rc=0
  for (( ; ; )); do
    st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$sid/stat" 2>/dev/null)
    [[ -z $st || $st == Z ]] && break
    [[ $st == T ]] && kill -CONT "$sid"
    if ((SECONDS > deadline)); then
      fail "$name: the run did not end within 120 s (nsenter $st, calibrator" \
        "$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$cal/stat" 2>/dev/null))" "$tmp/err"
      kill -KILL "$cal" "$sid" 2>/dev/null
      break
    fi
    sleep 0.05
  done
  wait "$sid" || rc=$?
}

# check NAME RC WANT: the exit code, then PID 1's children and the run.
check() {
  local name=$1 rc=$2 want=$3 kids tasks ok_case=1
  if [[ $rc -ne $want ]]; then
    fail "$name: exit $rc, want $want" "$tmp/err" "$tmp/out"
    ok_case=0
  fi
  # Orphans die a moment after the calibrator (parent-death signals); under
  # this PID 1 their zombies never go away, so a short settle catches them.
  sleep 0.2
  kids=$(ps -o pid=,stat=,comm= --ppid "$init")
  tasks=$(run_tasks "$sid")
  if [[ -n $kids || -n $tasks ]]; then
    # They stay (nothing here can reap them): later cases fail as well.
    fail "$name: children of the non-reaping PID 1 (pid stat comm): $(echo $kids); of the run: $(echo $tasks)"
    ok_case=0
  fi
  [[ $ok_case -eq 1 ]] && ok "$name: exit $rc; PID 1 has no child, nothing of the run is left"
}

# run NAME WANT ARGS...: a run to its end.
run() {
  local name=$1 want=$2 rc=0
  shift 2
  in_ns "$@"
  wait_run "$name"
  cal=""
  check "$name" "$rc" "$want"
}

# at_stage NAME STAGE ACTION WANT ARGS...: stopped at STAGE by the test hook,
# then ACTION (kill-host, kill-leader, hang-host, SIGINT, SIGTERM), continued.
at_stage() {
  local name=$1 stage=$2 action=$3 want=$4 rc=0 state="" host leader
  shift 4
  OFFSETPROBE_TEST_STAGE_HOOK=$stage in_ns calibrate --force --timeout 1500 "$@"
  for _ in $(seq 400); do
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$cal/stat" 2>/dev/null)
    [[ $state == T || -z $state ]] && break
    sleep 0.025
  done
  if [[ $state != T ]]; then
    fail "$name: the calibrator never stopped at $stage" "$tmp/err"
    kill -KILL "$cal" 2>/dev/null
    wait "$sid"
    cal=""
    return
  fi
  # The host by its command line: the file family's subjects are children
  # of the calibrator too (its experiment runs beside the task one). The
  # hook's pids are those of the run's pid namespace, not ours.
  host=$(pgrep -P "$cal" -f __offsetprobe_subject | head -1)
  leader=$(pgrep -P "$host" | head -1)
  case $action in
  kill-host) kill -KILL "$host" ;;
  kill-leader) kill -KILL "$leader" ;;
  hang-host) kill -STOP "$host" ;;
  SIG*) kill -"${action#SIG}" "$cal" ;;
  esac
  kill -CONT "$cal"
  # nsenter stops itself when its child stops (util-linux): continue it too
  # (wait_run does so again if it stops itself only after this).
  kill -CONT "$sid"
  wait_run "$name"
  cal=""
  check "$name" "$rc" "$want"
}

run "calibrate (cache miss, --fields all)" 0 calibrate
run "calibrate --force --fields task" 0 calibrate --force --fields task
# A bundle that lacks most fields: its read-back ends on a thread of its own
# while the missing fields are calibrated beside it, two subject groups at
# once. One group's end once gave the process's subreaper flag back while
# the other still ran: its orphans went to PID 1 (4-7 zombies a run).
"$bin" -q bundle create -o "$tmp/task.bundle" "$cache"/*.json >/dev/null 2>"$tmp/err" ||
  fail "bundle create (task fields only)" "$tmp/err"
run "calibrate (cache hit)" 0 calibrate
# The bundle's path: the read-back alone, whose subjects and programs end on
# a thread of their own while the entry is saved and printed (teardown.h).
# They are all gone once the calibrator has exited.
if "$bin" -q bundle create -o "$tmp/fleet.bundle" "$cache"/*.json >/dev/null 2>"$tmp/err"; then
  rm -f "$cache"/*.json
  run "calibrate from a bundle (read-back only)" 0 calibrate --bundle "$tmp/fleet.bundle"
  grep -q "from bundle" "$tmp/out" ||
    fail "calibrate --bundle did not take the bundle's offsets" "$tmp/out" "$tmp/err"
else
  fail "bundle create" "$tmp/err"
fi
if [[ -f $tmp/task.bundle ]]; then
  rm -f "$cache"/*.json
  run "calibrate from a bundle that lacks fields (read-back beside a calibration)" 0 \
    calibrate --bundle "$tmp/task.bundle"
  grep -q "from bundle, the rest calibrated" "$tmp/out" ||
    fail "calibrate --bundle (task fields only) did not take the bundle's path" "$tmp/out" "$tmp/err"
fi
rm -f "$cache"/*.json
run "count (calibrates first, then counts 0.3 s)" 0 count --syscall getppid --duration 0.3
at_stage "a leader killed at trial-ready" trial-ready kill-leader 9
at_stage "the host killed at trial-spawned" trial-spawned kill-host 9
at_stage "the host hung at validate-spawned" validate-spawned hang-host 9
at_stage "SIGINT at trial-released" trial-released SIGINT 130
at_stage "SIGTERM at validate-ready" validate-ready SIGTERM 143
# The bundle's read-back ends its subject host on the Teardown's thread: a
# host that will not end is still this run's error (exit 9), and nothing is
# left of it.
if [[ -f $tmp/fleet.bundle ]]; then
  at_stage "the host hung at validate-ready (the bundle's read-back)" validate-ready hang-host 9 \
    --bundle "$tmp/fleet.bundle"
fi
# The same with a bundle that lacks fields: validate-ready comes twice (the
# read-back's, the calibration's); the test hook stops only at the first.
if [[ -f $tmp/task.bundle ]]; then
  at_stage "the host hung at validate-ready (a bundle that lacks fields)" validate-ready \
    hang-host 9 --bundle "$tmp/task.bundle"
fi
finish
