#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   backends_count
# RUN    offsetprobe count (libbpf) and offsetprobe count --backend bcc at the
#        same time, on each hook, over one workload: count_subject processes
#        making exactly N getppid calls (two single-threaded, one with 4
#        threads)
# EXPECT both count runs exit 0; for the workload's tgids, the final JSON of
#        both backends has the same keys (tgid, start_ticks) and counts; each
#        key's start_ticks is /proc/<pid>/stat field 22 and each count is N;
#        no drops, no mismatches; none of the BPF objects either count run
#        held stays loaded (bpftool)
# Usage: backends_count.sh OFFSETPROBE_BINARY COUNT_SUBJECT_BINARY
set -uo pipefail
op=$1 subject=$2
tmp=$(mktemp -d)
. "$(dirname "$0")/lib_live.sh"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# A private cache: both runs read the same offsets, the host's cache is untouched.
export OFFSETPROBE_CACHE_DIR=$tmp/cache

need_live
held="" # "kind id" of every BPF object a count run held
[[ -x $(dirname "$op")/offsetprobe-bcc ]] || skip "offsetprobe-bcc not built (-Dbcc=disabled or no libbcc)"

rc=0
"$op" -q calibrate >/dev/null 2>"$tmp/cal.err" || rc=$?
[[ $rc -eq 7 ]] && skip "no BPF privileges: $(cat "$tmp/cal.err")"
[[ $rc -eq 0 ]] || { fail "calibrate: exit $rc: $(cat "$tmp/cal.err")"; finish; }
cflags=$("$op" export --format bcc-cflags 2>/dev/null)
ok "offsets cached: $(tr ' ' '\n' <<<"$cflags" | grep -E '^-DOFFSETPROBE_TASK_STRUCT_(GROUP_LEADER|START_BOOTTIME)=' | tr '\n' ' ')"

# start BACKEND HOOK: count --json in the background until SIGINT; waits until
# it counts (the BCC compile takes a second or more).
start() {
  local b=$1 hook=$2
  "$op" count --backend "$b" --hook "$hook" --syscall getppid --json --interval 0.5 \
    --duration 300 >"$tmp/$b.out" 2>"$tmp/$b.err" &
  eval "cpid_$b=$!"
  pids+=($!)
}
wait_counting() {
  local b=$1 p
  p=$(eval echo "\$cpid_$b")
  for _ in $(seq 300); do
    if grep -qs "Ctrl-C stops" "$tmp/$b.err"; then
      held+=$'\n'$(bpf_ids "$p")
      return 0
    fi
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  wait "$p"
  local rc=$?
  [[ $b == bcc && $rc -eq 13 ]] && skip "no kernel headers for BCC: $(tail -2 "$tmp/$b.err")"
  [[ $rc -eq 7 ]] && skip "no BPF privileges: $(tail -1 "$tmp/$b.err")"
  fail "count --backend $b did not start (exit $rc): $(cat "$tmp/$b.err")"
  finish
}

# subject CALLS THREADS: one count_subject run (getppid = 110); appends
# "tgid start_ticks expected_count" to $tmp/expected.
subject() {
  coproc SUBJ { exec "$subject" 110 "$1" "$2"; }
  local line spid=$SUBJ_PID sticks
  read -r line <&"${SUBJ[0]}"
  sticks=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$spid/stat")
  echo g >&"${SUBJ[1]}"
  read -r line <&"${SUBJ[0]}"
  # It lives until both backends have checked its key against it (up to 20 s).
  local b n
  for b in libbpf bcc; do
    for n in $(seq 200); do
      jq -e -s --argjson p "$spid" 'any(.[]; .processes[]? | .pid == $p and .check == "ok")' \
        "$tmp/$b.out" >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  exec {SUBJ[1]}>&-
  wait "$spid"
  echo "$spid $sticks $(($1 * ($2 > 0 ? $2 : 1)))" >>"$tmp/expected"
}

# keys BACKEND: the final JSON's rows of the workload's tgids, one
# "tgid start_ticks count" line each, sorted.
keys() {
  local tgids
  tgids=$(awk '{print $1}' "$tmp/expected" | jq -s -c .)
  tail -1 "$tmp/$1.out" | jq -r --argjson t "$tgids" \
    '.processes[] | select(.pid as $p | $t | index($p)) | "\(.pid) \(.start_ticks) \(.count)"' | sort
}

for hook in tracepoint raw_tracepoint; do
  rm -f "$tmp/expected"
  start libbpf "$hook"
  start bcc "$hook"
  wait_counting libbpf
  wait_counting bcc
  subject 1234 0
  subject 4321 0
  subject 500 4
  for b in libbpf bcc; do
    p=$(eval echo "\$cpid_$b")
    kill -INT "$p"
    wait "$p"
    rc=$?
    [[ $rc -eq 130 ]] || fail "$hook: count --backend $b exit $rc (want 130): $(tail -3 "$tmp/$b.err")"
    final=$(tail -1 "$tmp/$b.out")
    [[ $(jq -r .final <<<"$final") == true ]] || { fail "$hook/$b: no final object"; continue; }
    [[ $(jq '[.drops[]] | add' <<<"$final") == 0 ]] ||
      fail "$hook/$b: drops $(jq -c .drops <<<"$final")"
    [[ $(jq -s '[.[] | .mismatches] | max' "$tmp/$b.out") == 0 ]] || fail "$hook/$b: mismatches"
  done
  grep -q "with BCC" "$tmp/bcc.err" || fail "$hook: the bcc run does not say it counts with BCC"
  sort "$tmp/expected" >"$tmp/want"
  keys libbpf >"$tmp/libbpf.keys"
  keys bcc >"$tmp/bcc.keys"
  if diff "$tmp/libbpf.keys" "$tmp/bcc.keys" >"$tmp/diff"; then
    ok "$hook: libbpf and bcc report identical keys and counts ($(wc -l <"$tmp/bcc.keys") processes: $(awk '{printf "%s%s=%s", (NR>1?", ":""), $1, $3}' "$tmp/bcc.keys"))"
  else
    fail "$hook: libbpf and bcc differ:"; cat "$tmp/diff"
  fi
  if diff "$tmp/want" "$tmp/bcc.keys" >"$tmp/diff"; then
    ok "$hook: keys are (tgid, /proc/<pid>/stat field 22) and counts exactly N"
  else
    fail "$hook: bcc keys differ from the workload (want < > got):"; cat "$tmp/diff"
  fi
  pids=()
done

# Every program, map and link the count runs held is gone (freed after an RCU
# grace period: expect_bpf_gone waits up to 3 s).
held=$(sed '/^$/d' <<<"$held" | sort -u)
expect_bpf_gone "count runs" "$held" &&
  ok "every BPF object of the count runs is gone ($(wc -l <<<"$held") programs, maps and links)"
finish
