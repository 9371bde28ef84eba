# SPDX-License-Identifier: GPL-2.0-only
# Helpers shared by the reliability tests (faults.sh, load.sh, containers.sh,
# least_reach.sh): skip rules, result lines, subject and BPF object checks.
# Source it after setting `bin` (the offsetprobe binary) and `tmp` (a temp dir).
#
# Skip rule: where a test cannot run it prints SKIP with the reason and exits
# 77, which meson reports as skipped; with CI=true the same condition fails
# the test instead. A check that failed before the skip still fails the test.
# skip_part skips one part of a test (the rest runs), under the same rule.

failures=0

skip() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: cannot run under CI=true: $*"
    exit 1
  fi
  echo "SKIP: $*"
  [[ $failures -gt 0 ]] && { echo "$failures check(s) failed before the skip"; exit 1; }
  exit 77
}
skip_part() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL cannot run under CI=true: $*"
    failures=$((failures + 1))
    return 1
  fi
  echo "SKIP (part): $*"
}
fail() {
  echo "FAIL $1"
  shift
  local f
  for f in "$@"; do [[ -s $f ]] && sed 's/^/    /' "$f" | head -20; done
  failures=$((failures + 1))
  return 1
}
ok() { echo "ok   $*"; }
finish() {
  if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

# need_live: root, a usable bpf() syscall, bpftool and jq.
need_live() {
  [[ $(id -u) -eq 0 ]] || skip "not root (uid $(id -u)): calibrate needs CAP_BPF and CAP_PERFMON"
  command -v bpftool >/dev/null || skip "bpftool is not installed"
  command -v jq >/dev/null || skip "jq is not installed"
  bpftool prog show >/dev/null 2>&1 || skip "the bpf() syscall is not usable here (bpftool prog show failed)"
}
need_btf() {
  [[ -r /sys/kernel/btf/vmlinux ]] || skip "no /sys/kernel/btf/vmlinux: no BTF oracle to compare with"
}

# without_btf ARGS...: `$bin ARGS` with the kernel's BTF hidden (a tmpfs
# over /sys/kernel/btf in a mount namespace of its own), as on a host that
# has none. The caller checked need_btf and that unshare exists.
without_btf() {
  unshare -m sh -c 'mount -t tmpfs none /sys/kernel/btf && test ! -e /sys/kernel/btf/vmlinux &&
    exec "$@"' sh "$bin" "$@"
}

# two_oracles NAME CAL_JSON [oracle_check.py options]: judges a calibration
# with `offsetprobe verify` and with bpftool's reading of the same BTF
# (tests/oracle_check.py: a disagreement between the two fails). ok or fail
# with the problems; returns non-zero on failure. Needs `bin` and `tmp`.
two_oracles() {
  local name=$1 cal=$2 rc=0
  shift 2
  "$bin" verify --input "$cal" --json >"$tmp/oracle.verify.json" 2>"$tmp/oracle.verify.err" || rc=$?
  mkdir -p "$tmp/truth"
  if python3 "$(dirname "${BASH_SOURCE[0]}")/oracle_check.py" "$cal" "$tmp/oracle.verify.json" "$rc" \
    --truth-cache "$tmp/truth" --quiet "$@" >"$tmp/oracle.out" 2>&1; then
    ok "$name: $(tail -1 "$tmp/oracle.out" | sed 's/^oracles: //')"
  else
    fail "$name: verify and bpftool" "$tmp/oracle.out" "$tmp/oracle.verify.err"
  fi
}

# A subject's comm: "op" + 13 of [a-z0-9] (calibration/experiment/subject.cpp make_cookie).
cookie_re='op[a-z0-9]{13}'

# tree PID: PID and every descendant process and thread (one id a line).
tree() {
  local p=$1 c
  echo "$p"
  ls "/proc/$p/task" 2>/dev/null | grep -vx "$p"
  for c in $(pgrep -P "$p"); do tree "$c"; done
}

# alive ID...: the ids that still name a live (non-zombie) task.
alive() {
  local p s
  for p in "$@"; do
    s=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$p/stat" 2>/dev/null) || continue
    [[ -n $s && $s != Z && $s != X ]] && echo "$p"
  done
}

# run_tasks SID [MARKER]: "pid state comm" of every process of the whole
# table that belongs to the run whose command was started with `setsid` (its
# pid is SID): by session (every subject inherits it, and a zombie keeps it),
# by the subjects' command line (`__offsetprobe_subject <calibrator pid>
# <families>`, which every subject inherits from the host), or by MARKER in the
# environment. Zombies included (state Z); neighbours' runs never match.
run_tasks() {
  local sid=$1 marker=${2:-} p s
  {
    ps -e -o pid=,sid= | awk -v s="$sid" '$2 == s { print $1 }'
    pgrep -f "__offsetprobe_subject $sid( |\$)"
    [[ -n $marker ]] && grep -l -s -a -F -- "$marker" /proc/[0-9]*/environ | cut -d/ -f3
  } | sort -un | while read -r p; do
    s=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$p/stat" 2>/dev/null) || continue
    [[ -n $s && $s != X ]] && echo "$p $s $(cat "/proc/$p/comm" 2>/dev/null)"
  done
}

# expect_no_subjects NAME ID...: none of the ids is alive and no subject
# process (the host runs as `__offsetprobe_subject`, leaders and their tasks
# carry cookies) is left; waits up to 3 s. Other users' calibrations may
# show cookies for a few ms: only a cookie that stays is a failure.
expect_no_subjects() {
  local name=$1 left
  shift
  for _ in $(seq 60); do
    # Live ones only: a neighbour's zombies (reparented to an init that
    # does not reap) carry cookies too; zombies of this run are leak's check.
    left="$(alive "$@" $(pgrep -f __offsetprobe_subject) $(pgrep -x "${cookie_re}"))"
    [[ -z ${left// /} ]] && return 0
    sleep 0.05
  done
  fail "$name: processes left behind: $left"
  ps -o pid,ppid,stat,comm,args -p "$(echo $left | tr ' ' ,)" 2>/dev/null | sed 's/^/    /'
  return 1
}

# expect_run_gone NAME SID ID...: none of the ids is alive, and the whole
# process table holds nothing of the run started with `setsid` as SID
# (run_tasks: alive or zombie, wherever it was reparented); waits up to 3 s.
expect_run_gone() {
  local name=$1 sid=$2 left
  shift 2
  for _ in $(seq 60); do
    left="$(alive "$@") $(run_tasks "$sid" | cut -d' ' -f1)"
    [[ -z ${left// /} ]] && return 0
    sleep 0.05
  done
  fail "$name: processes left behind (alive or zombie): $left"
  ps -o pid,ppid,pgid,sid,stat,comm,args -p "$(echo $left | tr ' ' ,)" 2>/dev/null | sed 's/^/    /'
  return 1
}

# bpf_ids PID: "prog_id N", "map_id N", "link_id N" for every BPF object the
# process holds an fd of (/proc/PID/fdinfo).
bpf_ids() {
  cat /proc/"$1"/fdinfo/* 2>/dev/null |
    sed -nE 's/^(prog_id|map_id|link_id):[[:space:]]+([0-9]+)$/\1 \2/p' | sort -u
}

# loaded KIND ID: true while the kernel still has that object.
loaded() {
  case $1 in
  prog_id) bpftool prog show id "$2" >/dev/null 2>&1 ;;
  map_id) bpftool map show id "$2" >/dev/null 2>&1 ;;
  link_id) bpftool link show id "$2" >/dev/null 2>&1 ;;
  esac
}

# expect_bpf_gone NAME IDS: none of the objects (bpf_ids output) is still
# loaded; waits up to 3 s (the kernel frees them after an RCU grace period).
expect_bpf_gone() {
  local name=$1 ids=$2 left kind id
  [[ -n $ids ]] || { fail "$name: no BPF object was seen mid-run"; return 1; }
  for _ in $(seq 60); do
    left=""
    while read -r kind id; do
      loaded "$kind" "$id" && left+=" $kind=$id"
    done <<<"$ids"
    [[ -z $left ]] && return 0
    sleep 0.05
  done
  fail "$name: BPF objects left loaded:$left"
}

# our_objects: ids of programs, maps and links with our names (scan_*,
# read_*; maps cookies, snapshots, readbacks and the objects' .rodata/.bss),
# one "kind id" a line. Before/after comparisons use it.
our_objects() {
  {
    bpftool -j prog show 2>/dev/null | jq -r '.[] | select((.name // "") | test("^(scan|read)_")) | "prog_id \(.id)"'
    bpftool -j map show 2>/dev/null |
      jq -r '.[] | select((.name // "") | test("^(cookies|snapshots|readbacks|scanner\\.|reader\\.|op_scann|op_reade)")) | "map_id \(.id)"'
    bpftool -j link show 2>/dev/null | jq -r --argjson progs \
      "$(bpftool -j prog show 2>/dev/null | jq '[.[] | select((.name // "") | test("^(scan|read)_")) | .id]')" \
      '.[] | select(.prog_id as $p | $progs | index($p)) | "link_id \(.id)"'
  } | sort -u
}

# expect_no_new_objects NAME BEFORE: our_objects holds nothing that BEFORE did
# not (waits up to 3 s: another user's calibration may be running).
expect_no_new_objects() {
  local name=$1 before=$2 new
  for _ in $(seq 60); do
    new=$(comm -13 <(echo "$before") <(our_objects))
    [[ -z $new ]] && return 0
    sleep 0.05
  done
  fail "$name: new BPF objects still loaded: $(echo $new)"
}
