#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   files_live: the file family's fields equal BTF with BTF hidden
# RUN    unshare -m; tmpfs over /sys/kernel/btf; offsetprobe calibrate --no-cache
#        --fields files --json, keeping the experiment's capture
#        (OFFSETPROBE_FILES_DUMP); then, BTF visible again, judged by two
#        oracles: offsetprobe verify --input --json and bpftool
#        (tests/oracle_check.py)
# EXPECT exit 0 from calibrate; every field calibrated, validated and equal
#        to BTF by both oracles; the 37 fields of the family among them; the
#        experiment's subjects gone after the run; the capture replays
#        (a gzip'd JSON with every subject's known values)
# Skips (exit 77, typed reason) without root, BPF, bpftool or BTF; fails
# instead when CI=true. Usage: files_live.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf
command -v unshare >/dev/null || skip "no-unshare: util-linux missing"

rc=0
OFFSETPROBE_FILES_DUMP=$tmp/capture.json.gz without_btf calibrate --no-cache --fields files --json \
  >"$tmp/cal.json" 2>"$tmp/err" || rc=$?
if [[ $rc -ne 0 ]]; then
  fail "calibrate --fields files with BTF hidden: exit $rc, want 0" "$tmp/err" "$tmp/cal.json"
  finish
fi
two_oracles "files_live, BTF hidden while calibrating" "$tmp/cal.json" --complete --min-fields 40
n=$(jq '[.fields[] | select(.struct | IN("task_struct", "cred", "mm_struct") | not)
  | select(.status == "calibrated" and .validation == "passed")] | length' "$tmp/cal.json")
m=$(jq '[.fields[] | select(.struct == "task_struct" and (.member | IN("files", "fs")))
  | select(.status == "calibrated")] | length' "$tmp/cal.json")
e=$(jq '[.fields[] | select(.struct == "mm_struct" and .member == "exe_file")
  | select(.status == "calibrated")] | length' "$tmp/cal.json")
[[ $((n + m + e)) -eq 37 ]] && ok "37 file-family fields calibrated and read back" ||
  fail "$((n + m + e)) file-family fields calibrated and read back, want 37"

# The capture: every subject's pid, each gone now.
if [[ -s $tmp/capture.json.gz ]]; then
  pids=$(gzip -dc "$tmp/capture.json.gz" | jq -r '.trials[], .validation | .files.pid, .chroot.pid')
  [[ $(wc -w <<<"$pids") -ge 8 ]] && ok "the capture holds $(wc -w <<<"$pids") subjects" ||
    fail "the capture holds $(wc -w <<<"$pids") subjects, want 8"
  left=$(alive $pids)
  [[ -z $left ]] && ok "no subject of the experiment left" || fail "subjects left: $left"
else
  fail "no capture written to OFFSETPROBE_FILES_DUMP"
fi
finish
