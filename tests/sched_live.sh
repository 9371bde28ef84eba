#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   sched_live: the sched family's fields equal BTF with BTF hidden
# RUN    unshare -m; tmpfs over /sys/kernel/btf; offsetprobe calibrate --no-cache
#        --fields sched --json; then, BTF visible again, judged by two oracles:
#        offsetprobe verify --input --json and bpftool (tests/oracle_check.py);
#        the same twice more, each run with its subjects' fresh random values
# EXPECT exit 0 from calibrate; task_struct.static_prio, rt_priority and
#        policy calibrated, read back (validation passed) and equal to BTF by
#        both oracles in every run, with the task family's fields
# Skips (exit 77, typed reason) without root, BPF, bpftool or BTF; fails
# instead when CI=true. Usage: sched_live.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf
command -v unshare >/dev/null || skip "no-unshare: util-linux missing"

for run in 1 2 3; do
  rc=0
  without_btf calibrate --no-cache --fields sched --json >"$tmp/cal.json" 2>"$tmp/err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "run $run: calibrate --fields sched with BTF hidden: exit $rc, want 0" "$tmp/err" "$tmp/cal.json"
    continue
  fi
  two_oracles "run $run, BTF hidden while calibrating" "$tmp/cal.json" --complete --min-fields 12
  n=$(jq '[.fields[] | select(.struct == "task_struct")
    | select(.member | IN("static_prio", "rt_priority", "policy"))
    | select(.status == "calibrated" and .validation == "passed")] | length' "$tmp/cal.json")
  [[ $n -eq 3 ]] && ok "run $run: static_prio, rt_priority and policy calibrated and read back" ||
    fail "run $run: $n of the 3 sched fields calibrated and read back" "$tmp/cal.json"
done
finish
