#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   cred_orders: C's ids in three orders, so that no stale cred survives
# RUN    offsetprobe calibrate --no-cache --fields cred --json --dump-snapshots,
#        five times (15 trials); tests/cred_orders.py reads each trial's C
#        window behind task_struct.cred
# EXPECT exit 0 and every cred field calibrated in every run; trial i took
#        its ids in order i % 3 (/proc-confirmed ids: all distinct, fsuid =
#        euid, fsgid = egid); in a uids_last trial no byte of C's window but
#        cred.uid/suid/euid/fsuid holds a final uid (C's stale creds hold
#        root's), in a gids_last trial none but the gids' holds a final gid.
#        Prints how many all_distinct trials had a stale cred with seven of
#        C's ids in the window: the case the orders are for (calibration/
#        experiment/subject.h, CredOrder).
# Skips (exit 77, typed reason) without root, BPF or jq; fails instead when
# CI=true. Usage: cred_orders.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live

for i in 1 2 3 4 5; do
  rc=0
  "$bin" calibrate --no-cache --fields cred --json --dump-snapshots "$tmp/snap$i.json" \
    >"$tmp/cal$i.json" 2>"$tmp/err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "calibrate --fields cred (run $i): exit $rc, want 0" "$tmp/err" "$tmp/cal$i.json"
    continue
  fi
  python3 "$(dirname "$0")/cred_orders.py" "$tmp/cal$i.json" "$tmp/snap$i.json" >"$tmp/check" 2>&1 &&
    ok "run $i: $(tail -1 "$tmp/check")" || fail "run $i" "$tmp/check"
done
finish
