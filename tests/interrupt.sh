#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interrupts at random moments (issue #21): a command is started, then sent
# SIGINT, SIGTERM, SIGHUP or SIGKILL after a random delay spread over its
# whole run (0 to 0.9 times an uninterrupted run measured first: a run under --force is often quicker than that first one), RUNS times
# per signal, while a CPU burner keeps one core busy. No stage hook: the
# moment is arbitrary. After each run:
# - exit code: the stop's (130 SIGINT, 143 SIGTERM/SIGHUP), death by the
#   signal (128+N: SIGKILL, or a signal before the handlers exist), or 0
#   when the run had ended; anything else (a "subject died" 9, say) fails;
# - the whole process table holds nothing of the run, alive or zombie
#   (lib_live.sh run_tasks: the run's session, the subjects' command line
#   `__offsetprobe_subject <calibrator pid> <families>`, and a marker put in the run's
#   environment): at once after a stop the calibrator handled (it reaps
#   everything before it exits), within 5 s after SIGKILL (the kernel's
#   parent-death signals and pipe EOFs; the dead are reaped by PID 1);
# - every BPF program, map and link the run's own process held just before
#   and just after the signal (/proc/PID/fdinfo: its own objects, not a
#   global count) is unloaded;
# - the cache is byte for byte as it was, unless the run exited 0, was
#   SIGKILLed after its rename, or (count) had saved its calibration before
#   it was stopped counting: then it holds a valid entry and no temp file.
# - bcc and conn_bcc: the merged header view the run made (/run/offsetprobe-headers-<its
#   pid>-*) is gone at once after a handled stop; after a SIGKILL (no code of
#   ours runs) it is swept by a later run, which the last, uninterrupted run
#   checks.
# Usage: interrupt.sh OFFSETPROBE_BINARY calibrate|count|opens|conn|bcc|conn_bcc
#   (opens and conn, like count, calibrate into an empty cache first, then
#   trace 0.3 s; conn_bcc is conn --backend bcc: its probe compiled by BCC)
#   RUNS (runs per signal; default 6, 4 for count, opens and conn, 3 for bcc and conn_bcc, whose runs
#   compile for seconds: with 1 per signal, 3 of 4 runs could end before
#   their signal and none be caught holding a BPF object; docs/reliability.md has RUNS=200), SIGNALS ("INT
#   TERM HUP KILL"), INTERLEAVE=1 (INT TERM HUP KILL INT ... rather than all
#   runs of one signal, then the next), MAX_SECONDS (start no run after that
#   long: the counts done are reported, per signal)
set -uo pipefail
bin=$(realpath "$1")
mode=${2:-calibrate}
tmp=$(mktemp -d)
chmod 755 "$tmp"
cal=""
burner=""
cleanup() {
  [[ -n $cal && -n ${started:-} && $(start_time "$cal") == "$started" ]] && kill -KILL "$cal" 2>/dev/null
  [[ -n $burner ]] && kill -KILL -- "-$burner" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
command -v setsid >/dev/null || skip "setsid is not installed"
case $mode in
calibrate) runs=${RUNS:-6} ;;
count | opens | conn) runs=${RUNS:-4} ;;
bcc | conn_bcc)
  runs=${RUNS:-3}
  [[ -x $(dirname "$bin")/offsetprobe-bcc ]] || skip "no offsetprobe-bcc next to $bin (built without BCC)"
  ;;
*)
  echo "usage: $0 BINARY calibrate|count|opens|conn|bcc|conn_bcc" >&2
  exit 2
  ;;
esac
signals=${SIGNALS:-INT TERM HUP KILL}

cache=$tmp/cache
# start_time PID: field 22 of /proc/PID/stat, "" when there is no such process.
start_time() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }
# The command of one run; count, opens and conn get an empty cache each
# time, so that they calibrate (subjects and all) before they trace.
live=0
[[ $mode == count || $mode == opens || $mode == conn || $mode == conn_bcc ]] && live=1
# Runs that make a merged header view (offsetprobe-bcc).
uses_bcc=0
[[ $mode == bcc || $mode == conn_bcc ]] && uses_bcc=1
command_for() {
  case $mode in
  calibrate) echo "$bin --cache-dir $cache calibrate --force" ;;
  bcc) echo "$bin --cache-dir $cache calibrate --force --backend bcc" ;;
  count) echo "$bin --cache-dir $cache count --syscall getppid --duration 0.3 --interval 0.1" ;;
  opens) echo "$bin --cache-dir $cache opens --duration 0.3" ;;
  conn) echo "$bin --cache-dir $cache conn --duration 0.3" ;;
  conn_bcc) echo "$bin --cache-dir $cache conn --duration 0.3 --backend bcc" ;;
  esac
}
fresh_count_cache() {
  rm -rf "$cache"
  mkdir -p "$cache"
  : >"$cache/.lock" # the store creates it before calibrating: not a change
}
cache_state() {
  (cd "$cache" && find . -printf '%p %y %s %m %T@\n' | sort && cat ./*.json 2>/dev/null | sha256sum)
}
# A state a completed (or SIGKILLed after its rename) run may leave: entries
# that `show` accepts, no temp file.
cache_valid() {
  [[ -z $(find "$cache" -name '.*.tmp-*' -print -quit) ]] &&
    "$bin" --cache-dir "$cache" show >/dev/null 2>&1
}

# One burner on one core, as in the issue ("with one core busy").
setsid sh -c 'while :; do :; done' &
burner=$!

# How long an uninterrupted run takes here, under the burner (for calibrate
# and bcc this first run also fills the cache that --force then replaces).
[[ $live == 1 ]] && fresh_count_cache
t0=$(date +%s%N)
rc=0
$(command_for) >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc -eq 0 ]] || skip "an uninterrupted $mode run fails here (exit $rc): $(tail -1 "$tmp/err")"
span=$((($(date +%s%N) - t0) / 1000000))
max_delay=$((span * 9 / 10))
echo "an uninterrupted $mode run takes $span ms here (with the burner): delays 0-$max_delay ms"

# The header views of our runs (bcc): a run's own, by its pid in the name.
views_of() { compgen -G "/run/offsetprobe-headers-$1-*" || true; }
killed_views=""

# The order of the runs: all of one signal, then the next; or interleaved.
order=()
if [[ ${INTERLEAVE:-0} == 1 ]]; then
  for i in $(seq "$runs"); do for sig in $signals; do order+=("$sig:$i"); done; done
else
  for sig in $signals; do for i in $(seq "$runs"); do order+=("$sig:$i"); done; done
fi
t_start=$(date +%s)
declare -A rcs done_per
total=0 left_total=0 zombies_total=0 objects_seen=0 objects_left=0 runs_with_objects=0
kill_wait_max=0 kill_live_max=0
bad_runs=0 views_left=0 views_killed=0 ended=0
progress() {
  local line="" sg
  for sg in $signals; do line+=" SIG$sg=${done_per[$sg]:-0}"; done
  echo "progress: $total runs ($line ), $((total - ended)) stopped by the signal, $ended had ended;" \
    "$left_total left, $zombies_total zombies," \
    "$objects_left BPF objects left, $views_left header views left, $bad_runs bad runs;" \
    "$(($(date +%s) - t_start)) s"
}
prev_sig=""
for step in "${order[@]}"; do
  sig=${step%%:*} i=${step#*:}
  if [[ -n ${MAX_SECONDS:-} && $(($(date +%s) - t_start)) -ge $MAX_SECONDS ]]; then
    echo "MAX_SECONDS=$MAX_SECONDS reached: no more runs started"
    break
  fi
  [[ -n $prev_sig && $sig != "$prev_sig" && ${INTERLEAVE:-0} != 1 ]] && progress
  prev_sig=$sig
  {
    total=$((total + 1))
    done_per[$sig]=$((${done_per[$sig]:-0} + 1))
    [[ $live == 1 ]] && fresh_count_cache
    before=$(cache_state)
    marker="opinterrupt$$x$total$RANDOM"
    delay=$(((RANDOM * 32768 + RANDOM) % (max_delay + 1)))
    t_run=$(date +%s%N)
    env OFFSETPROBE_INTERRUPT_MARKER="$marker" setsid $(command_for) >"$tmp/out" 2>"$tmp/err" &
    cal=$!
    # Its start time: bash reaps a background child as soon as it exits, and
    # pids wrap quickly (pid_max 32768 on the shared VM), so a run that ended
    # before its delay may have left its pid to another process by then.
    # Signals go only to the process that started here.
    started=$(start_time "$cal")
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    ours() { [[ -n $started && $(start_time "$cal") == "$started" ]]; }
    ids=$(ours && bpf_ids "$cal")
    ours && kill -"$sig" "$cal" 2>/dev/null
    ids=$(printf '%s\n%s\n' "$ids" "$(ours && bpf_ids "$cal")" | sed '/^$/d' | sort -u)
    rc=0
    wait "$cal" || rc=$?
    sid=$cal
    cal=""
    t_exit=$(date +%s%N)
    name="SIG$sig #$i after $delay ms"
    rcs["$sig $rc"]=$((${rcs["$sig $rc"]:-0} + 1))
    # A run that ended before its signal was not interrupted at all. The
    # machine's speed drifts (a loaded shared machine, --force runs quicker
    # than the first): the delays follow the latest uninterrupted run, so
    # that they stay spread over a whole run rather than after its end.
    if [[ $rc -eq 0 ]]; then
      ended=$((ended + 1))
      max_delay=$(((t_exit - t_run) / 1000000 * 9 / 10))
      ((max_delay < 1)) && max_delay=1
    fi
    ok_run=1
    signo=$(kill -l "$sig")
    case "$sig:$rc" in
    INT:130 | TERM:143 | HUP:143 | *:0 | *:$((128 + signo))) ;;
    *)
      # Its stdout without the fields it placed and read back: what it
      # could not tell, and why.
      grep -Ev ' calibrated +passed *$' "$tmp/out" >"$tmp/out.rest" || true
      fail "$name: exit $rc (not the stop's code, the signal's, or 0)" "$tmp/err" "$tmp/out.rest"
      ok_run=0
      ;;
    esac
    # Nothing of the run: at once after a handled stop or a normal end (the
    # calibrator reaps everything before it exits). After a SIGKILL, no
    # live process within 5 s (parent-death signals, EOFs), and no zombie
    # within 10 s: the kernel gives the dead to PID 1, which reaps them (here
    # PID 1 reaps about once a second).
    tasks=$(run_tasks "$sid" "$marker")
    if [[ -n $tasks && $rc -eq $((128 + signo)) ]]; then
      live_ms=""
      for _ in $(seq 200); do
        [[ -z $live_ms && -z $(echo "$tasks" | awk '$2 != "Z"') ]] &&
          live_ms=$((($(date +%s%N) - t_exit) / 1000000))
        [[ -n $live_ms && $live_ms -gt 5000 ]] && break
        [[ -z $tasks ]] && break
        sleep 0.05
        tasks=$(run_tasks "$sid" "$marker")
      done
      waited=$((($(date +%s%N) - t_exit) / 1000000))
      ((waited > kill_wait_max)) && kill_wait_max=$waited
      [[ -n $live_ms ]] && ((live_ms > kill_live_max)) && kill_live_max=$live_ms
    fi
    if [[ -n $tasks ]]; then
      n=$(echo "$tasks" | wc -l)
      z=$(echo "$tasks" | awk '$2 == "Z"' | wc -l)
      left_total=$((left_total + n - z))
      zombies_total=$((zombies_total + z))
      ps -o pid,ppid,pgid,sid,stat,comm,args -p "$(echo "$tasks" | cut -d' ' -f1 | paste -sd,)" \
        >"$tmp/detail" 2>&1
      fail "$name (exit $rc): $((n - z)) process(es) and $z zombie(s) of the run left:" \
        "$tmp/detail" "$tmp/err"
      ok_run=0
    fi
    # Its BPF objects, by the ids its own process held.
    if [[ -n $ids ]]; then
      runs_with_objects=$((runs_with_objects + 1))
      objects_seen=$((objects_seen + $(echo "$ids" | wc -l)))
      lingering=""
      for _ in $(seq 60); do
        lingering=""
        while read -r kind id; do
          loaded "$kind" "$id" && lingering+=" $kind=$id"
        done <<<"$ids"
        [[ -z $lingering ]] && break
        sleep 0.05
      done
      if [[ -n $lingering ]]; then
        objects_left=$((objects_left + $(echo $lingering | wc -w)))
        fail "$name: BPF objects of the run still loaded:$lingering"
        ok_run=0
      fi
    fi
    # The cache.
    if [[ $(cache_state) != "$before" ]]; then
      # The run had finished, or was killed after its atomic rename; count,
      # opens and conn save their calibration before they trace, so any stop
      # may follow it.
      if [[ $rc -eq 0 || $sig == KILL || $live == 1 ]] && cache_valid; then
        :
      else
        diff <(echo "$before") <(cache_state) >"$tmp/detail"
        fail "$name (exit $rc): the cache directory changed" "$tmp/detail"
        # Reported once: a stray temp file (a save SIGKILLed between its
        # write and its rename) must not fail every later run as well.
        find "$cache" -name '.*.tmp-*' -delete
        ok_run=0
      fi
    fi
    # The header view (bcc): gone with a handled stop; after a SIGKILL,
    # remembered, to be swept by a later run.
    if [[ $uses_bcc == 1 ]]; then
      views=$(views_of "$sid")
      if [[ -n $views && $rc -eq $((128 + signo)) && $sig == KILL ]]; then
        views_killed=$((views_killed + $(echo "$views" | wc -l)))
        killed_views+=" $views"
      elif [[ -n $views ]]; then
        views_left=$((views_left + $(echo "$views" | wc -l)))
        fail "$name (exit $rc): its merged header view is left: $views"
        rm -rf $views
        ok_run=0
      fi
    fi
    [[ $ok_run -eq 1 ]] || bad_runs=$((bad_runs + 1))
  }
  [[ ${INTERLEAVE:-0} == 1 && $((total % 20)) -eq 0 ]] && progress
done
progress

# The views of SIGKILLed runs: one more run, uninterrupted, sweeps them at
# its start (their owners are dead: their locks are free).
if [[ $uses_bcc == 1 && -z $killed_views ]]; then
  ok "no SIGKILLed run had made its header view yet: no sweep to check"
elif [[ $uses_bcc == 1 ]]; then
  rc=0
  $(command_for) >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq 0 ]] || fail "the last, uninterrupted $mode run: exit $rc" "$tmp/err"
  still=""
  for v in $killed_views; do [[ -e $v ]] && still+=" $v"; done
  if [[ -n $still ]]; then
    views_left=$((views_left + $(echo $still | wc -w)))
    fail "header views of SIGKILLed runs not swept by a later run:$still"
    rm -rf $still
  else
    ok "$views_killed header view(s) left by SIGKILLed runs, all swept by later runs"
  fi
fi

summary=""
for k in $(printf '%s\n' "${!rcs[@]}" | tr ' ' : | sort); do
  summary+=" ${k/:/ exit }=${rcs[${k/:/ }]}"
done
echo "exits (signal exit=runs):$summary"
per=""
for sg in $signals; do per+=" SIG$sg=${done_per[$sg]:-0}"; done
ok "$total interrupted $mode runs ($per ), burner on, delays up to 0.9x the latest whole run" \
  "(last $max_delay ms): $((total - ended)) stopped by the signal, $ended had ended first;" \
  "$left_total left, $zombies_total zombies; $objects_seen BPF objects seen in $runs_with_objects" \
  "runs, $objects_left left; after SIGKILL, last live process gone within $kill_live_max ms," \
  "last zombie reaped (by PID 1) within $kill_wait_max ms; $views_left header views left;" \
  "$bad_runs bad runs"
[[ $runs_with_objects -gt 0 ]] || fail "no run was caught holding a BPF object: the BPF check saw nothing"
finish
