#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   backends_agree
# RUN    offsetprobe calibrate --fields task (libbpf) and offsetprobe calibrate --backend bcc
#        (task_struct fields: BCC has no chain scanner)
#        (each trigger mode), then offsetprobe verify on each result
# EXPECT both complete (exit 0); every field has the same status, offset, size
#        and validation in both; each agrees with the kernel's BTF
# Usage: backends_agree.sh OFFSETPROBE_BINARY
set -uo pipefail
op=$1
. "$(dirname "$0")/live.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

need_root_bpf
[[ -x $(dirname "$op")/offsetprobe-bcc ]] || skip "offsetprobe-bcc not built (-Dbcc=disabled or no libbcc)"
[[ -r /sys/kernel/btf/vmlinux ]] || skip "no /sys/kernel/btf/vmlinux: nothing to verify against"

# The fields as both backends must report them (backend and timing differ).
fields() { jq -S '[.fields[] | {name, status, offset, size, validation}]' "$1"; }

rc=0
"$op" -q calibrate --no-cache --fields task --json >"$tmp/libbpf.json" 2>"$tmp/libbpf.err" || rc=$?
[[ $rc -eq 7 ]] && skip "no BPF privileges: $(cat "$tmp/libbpf.err")"
if [[ $rc -ne 0 ]]; then
  fail "libbpf calibrate: exit $rc"; cat "$tmp/libbpf.err"; finish
fi
ok "libbpf calibrate complete ($(jq -r .trigger "$tmp/libbpf.json"), $(jq .elapsed_ms "$tmp/libbpf.json") ms)"

for trigger in auto tracepoint uprobe; do
  out=$tmp/bcc-$trigger.json
  rc=0
  "$op" -q calibrate --no-cache --backend bcc --trigger "$trigger" --json >"$out" 2>"$tmp/bcc.err" || rc=$?
  [[ $rc -eq 13 ]] && skip "no kernel headers for BCC: $(cat "$tmp/bcc.err")"
  if [[ $rc -ne 0 ]]; then
    fail "bcc calibrate --trigger $trigger: exit $rc"; cat "$tmp/bcc.err"; continue
  fi
  [[ $(jq -r .backend "$out") == bcc ]] || fail "bcc --trigger $trigger: backend is $(jq -r .backend "$out")"
  [[ $(jq -r .source "$out") == calibrated ]] || fail "bcc --trigger $trigger: source is $(jq -r .source "$out"), not a calibration"
  if diff <(fields "$tmp/libbpf.json") <(fields "$out") >"$tmp/diff"; then
    ok "bcc --trigger $trigger ($(jq -r .trigger "$out")): $(jq '.fields | length' "$out") fields identical to libbpf"
  else
    fail "bcc --trigger $trigger differs from libbpf:"; cat "$tmp/diff"
  fi
done

for f in "$tmp/libbpf.json" "$tmp/bcc-auto.json"; do
  [[ -s $f ]] || continue
  rc=0
  "$op" verify --input "$f" >"$tmp/verify.out" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    ok "verify $(jq -r .backend "$f"): $(tail -1 "$tmp/verify.out")"
  else
    fail "verify $(jq -r .backend "$f"): exit $rc"; cat "$tmp/verify.out"
  fi
done
finish
