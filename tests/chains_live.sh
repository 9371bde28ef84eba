#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   chains_live: every chain field equals BTF with BTF hidden
# RUN    unshare -m; tmpfs over /sys/kernel/btf; offsetprobe calibrate --no-cache --json;
#        then, BTF visible again, judged by two oracles: offsetprobe verify
#        --input --json and bpftool (tests/oracle_check.py)
# EXPECT exit 0 from calibrate; every field calibrated, validated and equal
#        to BTF by both oracles, which agree with each other (not_present
#        allowed only where BTF has no such member); verify exits 0; at
#        least 39 chain fields
# Skips (exit 77, typed reason) without root, BPF, bpftool or BTF; fails
# instead when CI=true. Usage: chains_live.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf
command -v unshare >/dev/null || skip "no-unshare: util-linux missing"

rc=0
without_btf calibrate --no-cache --json >"$tmp/cal.json" 2>"$tmp/err" || rc=$?
if [[ $rc -ne 0 ]]; then
  fail "calibrate with BTF hidden: exit $rc, want 0" "$tmp/err" "$tmp/cal.json"
  finish
fi
two_oracles "chains_live, BTF hidden while calibrating" "$tmp/cal.json" --complete --min-fields 40
# The chain fields: those behind a pointer, and the task_struct pointers and
# ids that lead to them (2 cred pointers + 8 ids, nsproxy + 7 + 7 inums, mm +
# active_mm + 10, loginuid + sessionid).
n=$(jq '[.fields[] | select(.struct != "task_struct" or (.member | IN("real_cred", "cred",
  "nsproxy", "mm", "active_mm", "loginuid", "sessionid")))] | length' "$tmp/cal.json")
[[ $n -ge 39 ]] && ok "$n chain fields in the calibration" || fail "only $n chain fields in the calibration, want 39"
finish
