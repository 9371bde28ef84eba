#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Least reach: the scanner captures only tasks whose comm is a cookie of the
# running calibration, and only while it runs.
#
# 1. Look-alikes are never captured. The calibrator is held at trial-ready
#    (test stage hook: the scanner attached, the snapshots not yet read) while
#    processes call getppid with comms that differ from a live cookie in one
#    character (last, middle), share only its prefix, or are random "op" + 13
#    names. The run must complete, equal BTF, and every snapshot it dumped
#    (--dump-snapshots) must be of the calibrator's own subjects, never of a
#    look-alike. A filter looser than exact comm equality would put a
#    look-alike into a slot (a foreign tid in the dump, or exit 9 below).
# 2. A task that takes an exact cookie (copied from /proc, or a longer name
#    the kernel truncates to it) and calls getppid is caught by the capture
#    count: the run stops with exit 9 naming the subject, and reports nothing.
# 3. Only for the calibration's duration: every BPF object it held is gone
#    when it exits (also checked after every fault in faults.sh).
# 4. Only for as long as they are needed: released trial leaders end at once.
#    Held at validate-ready, the subject host's only child left is the
#    validation leader. (A leader forked later once kept the earlier ones'
#    control pipes open, so "release" never reached them.)
# Usage: least_reach.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
chmod 755 "$tmp"
cal=""
trap '[[ -n $cal ]] && kill -KILL "$cal" 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf
command -v dash >/dev/null || skip "dash is not installed (the look-alikes' getppid caller)"

# hold_at STAGE ARGS...: starts calibrate held at STAGE; sets cal, leaders,
# subjects (the calibrator's tree) and ids (its BPF objects).
hold_at() {
  local stage=$1
  shift
  : >"$tmp/err"
  OFFSETPROBE_TEST_STAGE_HOOK=$stage "$bin" calibrate --no-cache --timeout 5000 "$@" \
    >"$tmp/out" 2>"$tmp/err" &
  cal=$!
  for _ in $(seq 200); do
    [[ $(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$cal/stat" 2>/dev/null) == T ]] &&
      grep -q 'test stage hook' "$tmp/err" && break
    sleep 0.05
  done
  leaders=$(sed -nE 's/.*test stage hook: .* pids=[0-9]+,([0-9,]+)$/\1/p' "$tmp/err" | tr , ' ')
  subjects=$(tree "$cal" | grep -vx "$cal")
  ids=$(bpf_ids "$cal")
  [[ -n $leaders ]]
}
# run_as NAME: a dash started under that name (comm = the link's name,
# truncated to 15) calling getppid; echoes its pid after it exited.
run_as() {
  ln -sf "$(command -v dash)" "$tmp/$1"
  "$tmp/$1" -c 'echo $$' 2>/dev/null
}
release() {
  kill -CONT "$cal"
  rc=0
  wait "$cal" || rc=$?
  cal=""
}

# --- 1. look-alikes ------------------------------------------------------------
if ! hold_at trial-ready --json --dump-snapshots "$tmp/dump.json"; then
  fail "the calibration never reached trial-ready" "$tmp/err"
  finish
fi
alpha=abcdefghijklmnopqrstuvwxyz0123456789
flip() { # flip STRING POS: the character at POS replaced by another one
  local n=a
  [[ ${1:$2:1} == a ]] && n=b
  echo "${1:0:$2}$n${1:$(($2 + 1))}"
}
lookalike_pids=()
names=()
for l in $leaders; do
  for t in $(ls "/proc/$l/task"); do
    cookie=$(cat "/proc/$l/task/$t/comm")
    [[ $cookie =~ ^op[a-z0-9]{13}$ ]] || continue
    names+=("$(flip "$cookie" 14)" "$(flip "$cookie" 7)" "${cookie:0:14}" "${cookie:0:10}")
  done
done
for _ in $(seq 8); do
  r=op
  for _ in $(seq 13); do r+=${alpha:RANDOM % 36:1}; done
  names+=("$r")
done
for n in "${names[@]}"; do lookalike_pids+=("$(run_as "$n")"); done
release
if [[ $rc -ne 0 ]]; then
  fail "look-alikes: calibrate exit $rc, want 0" "$tmp/err"
else
  "$bin" verify --input "$tmp/out" >"$tmp/v.out" 2>&1 || fail "look-alikes: verify failed" "$tmp/v.out"
  # Every snapshot's tid: a subject of this calibration (E, the exiter, had
  # exited before the hold: it is L's child, checked by its tgid != any
  # look-alike), never a look-alike.
  jq -r '.trials[] | to_entries[] | select(.value | type == "object" and has("tid")) |
    "\(.key) \(.value.tid) \(.value.tgid)"' "$tmp/dump.json" >"$tmp/tids"
  bad=0
  while read -r role tid tgid; do
    for p in "${lookalike_pids[@]}"; do
      [[ $tid == "$p" || $tgid == "$p" ]] && { fail "look-alike $p was captured as $role"; bad=1; }
    done
    if [[ $role != exiter ]] && ! grep -qx "$tid" <<<"$subjects"; then
      fail "the $role snapshot is of tid $tid, not one of the calibration's subjects"
      bad=1
    fi
  done <"$tmp/tids"
  [[ $(wc -l <"$tmp/tids") -ge 12 ]] || { fail "the dump holds $(wc -l <"$tmp/tids") snapshots, want 12"; bad=1; }
  [[ $bad -eq 0 ]] && ok "${#names[@]} look-alikes called getppid while the scanner was attached:" \
    "none captured; $(wc -l <"$tmp/tids") snapshots, all of the calibration's subjects; result equals BTF"
fi
expect_bpf_gone "look-alikes" "$ids" && ok "after the run, none of its $(echo "$ids" | wc -l) BPF objects is loaded"

# --- 2. impostors: an exact cookie, and a longer name truncated to one ---------
for how in exact truncated; do
  hold_at trial-ready || { fail "impostor ($how): never reached trial-ready" "$tmp/err"; continue; }
  leader=${leaders%% *}
  grandchild=$(pgrep -P "$leader" | head -1)
  cookie=$(cat "/proc/$grandchild/comm")
  name=$cookie
  [[ $how == truncated ]] && name=${cookie}zzzzz
  impostor=$(run_as "$name")
  release
  if [[ $rc -ne 9 ]]; then
    fail "impostor ($how, $name): exit $rc, want 9" "$tmp/err" "$tmp/out"
  elif ! grep -Eq "captured [0-9]+ times.*another task took its comm" "$tmp/err"; then
    fail "impostor ($how): no message naming the double capture" "$tmp/err"
  else
    ok "impostor ($how comm $name, pid $impostor): exit 9," \
      "\"$(grep -v 'stage hook' "$tmp/err" | head -1 | cut -c1-100)...\""
  fi
  expect_no_subjects "impostor ($how)" $subjects
  expect_bpf_gone "impostor ($how)" "$ids"
done

# --- 4. released trial leaders end at once -------------------------------------
for fields in task all; do
  if ! hold_at validate-ready --fields "$fields"; then
    fail "release ($fields): never reached validate-ready" "$tmp/err"
    release
    continue
  fi
  host=$(sed -nE 's/.*test stage hook: .* pids=([0-9]+),.*/\1/p' "$tmp/err")
  kids=""
  for _ in $(seq 40); do # up to 2 s; the calibrator is stopped meanwhile
    kids=$(pgrep -P "$host" | tr '\n' ' ')
    [[ $kids == "$leaders " ]] && break
    sleep 0.05
  done
  if [[ $kids == "$leaders " ]]; then
    ok "release ($fields): at validate-ready the host's only child is the validation leader $leaders"
  else
    fail "release ($fields): the host's children are [$kids], want only the validation leader $leaders"
  fi
  release
  [[ $rc -eq 0 ]] || fail "release ($fields): calibrate exit $rc, want 0" "$tmp/err"
done
finish
