#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `offsetprobe count` end to end: a subject making exactly N calls shows up
# with count N, check "ok" and the start ticks of /proc/<pid>/stat field 22;
# --json objects per interval and a final one; SIGINT and SIGTERM stop it
# cleanly (130, 143) with the summary; usage errors exit 2; --top limits the
# table; --max-processes bounds the kernel maps (the rest are counted drops);
# in a pid namespace keys are the namespace's pids; every BPF object a count
# run held is gone after it. Root + BPF + bpftool; skips (77) with the reason
# otherwise, fails under CI=true. The offsets come from a private cache (the
# first count calibrates into it): the host's /var/cache is not touched.
# Usage: count_cli.sh OFFSETPROBE_BINARY COUNT_SUBJECT_BINARY
set -uo pipefail
bin=$1 subject=$2
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() { [[ -n ${cpid:-} ]] && kill "$cpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
export OFFSETPROBE_CACHE_DIR=$tmp/cache
held="" # "kind id" of every BPF object a count run held (expect_bpf_gone at the end)

# Usage errors need no root.
"$bin" count --syscall nope -d 1 >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] && grep -q "unknown syscall nope" "$tmp/err" && ok "unknown syscall" || fail "unknown syscall: rc $rc"
"$bin" count -d 1 >/dev/null 2>&1; rc=$?
[[ $rc -eq 2 ]] && ok "--syscall required" || fail "--syscall required: rc $rc"

need_live

# Starts `count --json` in the background; waits until it counts.
start_count() {
  rm -f "$tmp/out" "$tmp/err" # the previous run's "Ctrl-C stops" must not count
  "$bin" count --syscall getppid --json --interval 0.2 "$@" >"$tmp/out" 2>"$tmp/err" &
  cpid=$!
  # The first run calibrates into the private cache: allow a minute.
  for _ in $(seq 600); do
    if grep -qs "Ctrl-C stops" "$tmp/err"; then
      held+=$'\n'$(bpf_ids "$cpid")
      return 0
    fi
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/err"
  if grep -q "exit\|permission\|BPF" "$tmp/err"; then skip "BPF unavailable: $(tail -1 "$tmp/err")"; fi
  fail "count did not start"; exit 1
}

# (jq -s: jq 1.6's -e exits 0 on an empty file, which is what the output is
# before the first interval: the wait must not end there.)
# wait_checked PID: waits (up to 20 s) until an interval object of the
# running count shows PID's key checked against the live process ("ok"),
# or, for PID "none", until two more interval objects have come (one whole
# interval after the subject's calls).
wait_checked() {
  local n0
  n0=$(grep -c '"interval_s"' "$tmp/out")
  for _ in $(seq 200); do
    if [[ $1 == none ]]; then
      [[ $(grep -c '"interval_s"' "$tmp/out") -ge $((n0 + 2)) ]] && return 0
    elif jq -e -s --argjson p "$1" 'any(.[]; .processes[]? | .pid == $p and .check == "ok")' \
      "$tmp/out" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$cpid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# run_subject CALLS THREADS [none]: runs count_subject, sets spid and sticks
# (field 22). The subject lives until its key was checked ("none": until an
# interval has passed; the run does not count it).
run_subject() {
  coproc SUBJ { exec "$subject" 110 "$1" "$2"; }
  read -r line <&"${SUBJ[0]}"
  spid=$SUBJ_PID
  sticks=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$spid/stat")
  echo g >&"${SUBJ[1]}"
  read -r line <&"${SUBJ[0]}"
  wait_checked "${3:-$spid}" || echo "note: pid $spid was not seen checked while it lived"
  exec {SUBJ[1]}>&-
  wait "$spid"
}

# Stopped by SIGINT below, never by --duration: on a loaded machine the waits
# for the key's check and three intervals took more than the 30 s this once
# was, and the run ended by itself (exit 0, "SIGINT exit 0").
start_count --duration 600
run_subject 1234 0
# "one JSON object per interval" below wants three: wait for them (20 s at most).
for _ in $(seq 200); do
  [[ $(grep -c '"interval_s"' "$tmp/out") -ge 3 ]] && break
  sleep 0.1
done
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

start_count --duration 600 --pid $$
run_subject 10 2 none
kill -TERM "$cpid"; wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 143 ]] && ok "SIGTERM exits 143" || fail "SIGTERM exit $rc"
[[ $(tail -1 "$tmp/out" | jq --argjson p "$spid" '[.processes[] | select(.pid == $p)] | length') == 0 ]] &&
  ok "--pid counts that process only" || fail "--pid: $(tail -1 "$tmp/out")"

start_count --duration 5
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
    "$bin" count -s getppid --json -i 0.2 -d 120 >"$tmp/ns.out" 2>"$tmp/ns.err" &
    c=$!
    for _ in $(seq 300); do grep -q "Ctrl-C stops" "$tmp/ns.err" && break; sleep 0.1; done
    coproc S { exec "$subject" 110 77 0; }
    read -r l <&"${S[0]}"
    echo "$S_PID $(awk "{ sub(/.*\\) /, \"\"); print \$20 }" /proc/$S_PID/stat)" >"$tmp/ns.subject"
    echo g >&"${S[1]}"; read -r l <&"${S[0]}"
    for _ in $(seq 200); do # its key checked while it lives
      jq -e -s --argjson p "$S_PID" "any(.[]; .processes[]? | .pid == \$p and .check == \"ok\")" \
        "$tmp/ns.out" >/dev/null 2>&1 && break
      sleep 0.1
    done
    exec {S[1]}>&-; wait $S_PID; kill -INT $c; wait $c'
  read -r nspid nsticks <"$tmp/ns.subject"
  row=$(tail -1 "$tmp/ns.out" | jq -c --argjson p "$nspid" '.processes[] | select(.pid == $p)')
  [[ $(jq -r .count <<<"$row") == 77 && $(jq -r .start_ticks <<<"$row") == "$nsticks" &&
     $(jq -r .check <<<"$row") == exited ]] &&
    ok "pid namespace: pid $nspid as the namespace sees it" || fail "pid namespace: $row; $(cat "$tmp/ns.err")"
else
  skip_part "unshare -p not permitted: the pid namespace case cannot run"
fi

# subjects_start N CALLS: N count_subject processes, each with its own FIFO
# as stdin; each makes CALLS calls and then lives until subjects_stop. Their
# pids in subj_pids.
wait_line() { # wait_line FILE WORD: up to 20 s for a line starting with WORD
  for _ in $(seq 200); do grep -q "^$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
subjects_start() {
  local i fd
  subj_pids=() subj_fds=()
  for ((i = 0; i < $1; i++)); do
    rm -f "$tmp/go$i" "$tmp/s$i.out"
    mkfifo "$tmp/go$i"
    "$subject" 110 "$2" 0 <"$tmp/go$i" >"$tmp/s$i.out" &
    subj_pids+=($!)
    exec {fd}>"$tmp/go$i"
    subj_fds+=("$fd")
  done
  for ((i = 0; i < $1; i++)); do wait_line "$tmp/s$i.out" ready || fail "subject $i not ready"; done
  for fd in "${subj_fds[@]}"; do echo g >&"$fd"; done
  for ((i = 0; i < $1; i++)); do wait_line "$tmp/s$i.out" done || fail "subject $i did not finish"; done
}
subjects_stop() {
  local fd
  for fd in "${subj_fds[@]}"; do exec {fd}>&-; done
  wait "${subj_pids[@]}"
}
# stop_after_intervals N: lets N more interval reports come, then SIGINT.
stop_after_intervals() {
  local n0
  n0=$(grep -c "$2" "$tmp/out")
  for _ in $(seq 200); do
    [[ $(grep -c "$2" "$tmp/out") -ge $((n0 + $1)) ]] && break
    sleep 0.1
  done
  kill -INT "$cpid"; wait "$cpid"; rc=$?; cpid=
}

# --top N: the table shows N rows and says how many more there are; --top 0
# shows them all. Four subjects are counted (and maybe other processes).
for top in 2 0; do
  rm -f "$tmp/out" "$tmp/err"
  "$bin" count --syscall getppid --interval 0.2 --top "$top" >"$tmp/out" 2>"$tmp/err" &
  cpid=$!
  for _ in $(seq 600); do grep -qs "Ctrl-C stops" "$tmp/err" && break; sleep 0.1; done
  held+=$'\n'$(bpf_ids "$cpid")
  subjects_start 4 100
  stop_after_intervals 2 '^getppid: '
  subjects_stop
  # The summary's table: the lines after "summary:" that start with a pid.
  summary=$(sed -n '/^summary:/,$p' "$tmp/out")
  rows=$(grep -cE '^[0-9]+ ' <<<"$summary")
  total=$(sed -nE 's/^total [0-9]+ events in ([0-9]+) processes.*/\1/p' <<<"$summary")
  more=$(sed -nE 's/^\.\.\. ([0-9]+) more processes \(--top 0 shows all\)$/\1/p' <<<"$summary")
  ours=0
  for p in "${subj_pids[@]}"; do grep -qE "^$p .* 100 " <<<"$summary" && ours=$((ours + 1)); done
  if [[ $rc -ne 130 || -z $total || $total -lt 4 ]]; then
    fail "--top $top: exit $rc, $total processes counted (want 130, at least 4)" "$tmp/out" "$tmp/err"
  elif [[ $top == 2 && ($rows != 2 || $more != $((total - 2))) ]]; then
    fail "--top 2: $rows rows and \"${more:-no} more\" of $total processes, want 2 and $((total - 2))" "$tmp/out"
  elif [[ $top == 0 && ($rows != "$total" || -n $more || $ours != 4) ]]; then
    fail "--top 0: $rows rows of $total processes (${more:-no} more), $ours of 4 subjects shown" "$tmp/out"
  else
    ok "--top $top: $rows rows of $total processes${more:+, \"... $more more processes\"}"
  fi
done

# --max-processes 16 (the least it takes) with 40 subjects alive at once.
# The size applies to both kernel maps (live threads, and processes), so at
# most 32 subjects get counted; the others' calls are drops (map_full), and
# every call is either counted or dropped. With the default size all 40 are
# counted exactly.
for max in 16 65536; do
  start_count --duration 120 --max-processes "$max"
  subjects_start 40 100
  stop_after_intervals 2 '"interval_s"'
  subjects_stop
  final=$(tail -1 "$tmp/out")
  read -r nours counted full most < <(jq -r --argjson s "$(printf '%s\n' "${subj_pids[@]}" | jq -s -c .)" \
    '[.processes[] | select(.pid as $p | $s | index($p))] as $o
     | "\($o | length) \([$o[].count] | add // 0) \(.drops.map_full) \([$o[].count] | max // 0)"' <<<"$final")
  if [[ $rc -ne 130 || -z $full ]]; then
    fail "--max-processes $max: exit $rc, final object: ${final:0:300}" "$tmp/err"
  elif [[ $max == 16 && ($nours -gt 32 || $full -eq 0 || $((counted + full)) -lt 4000 || $most -gt 100) ]]; then
    fail "--max-processes 16: $nours of 40 subjects counted ($counted calls, at most $most each)," \
      "$full drops (map_full); want at most 32, some drops, counted + dropped >= 4000"
  elif [[ $max == 65536 && ($nours != 40 || $counted != 4000 || $full != 0) ]]; then
    fail "--max-processes 65536: $nours of 40 subjects, $counted of 4000 calls counted, $full dropped"
  else
    ok "--max-processes $max: $nours of 40 subjects counted ($counted calls), $full calls dropped (map full)"
  fi
done

# Nothing left behind: every program, map and link a count run held is gone.
held=$(sed '/^$/d' <<<"$held" | sort -u)
expect_bpf_gone "count runs" "$held" &&
  ok "every BPF object of the count runs is gone ($(wc -l <<<"$held") programs, maps and links)"
finish
