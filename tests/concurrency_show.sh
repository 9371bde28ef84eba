#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 16 `calibrate` and 16 `show` processes at once on an empty cache (the show
# processes loop, reading again and again while the calibrations run): one
# calibration runs, the other 15 reuse its entry; every read is either a
# complete entry (exit 0, JSON with complete == true and 9 fields) or "not
# calibrated" (exit 3), never a parse error (exit 11) or a partial file.
# tests/concurrency.sh checks the calibrate-only case; this adds the readers.
# Usage: concurrency_show.sh OFFSETPROBE_BINARY   (env N, default 16)
set -uo pipefail
OP=$(realpath "$1")
N=${N:-16}
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live

dir=$tmp/c
# A reader: loops until the calibrations are done, then reads once more.
reader() {
  local i=$1 n=0 rc
  while :; do
    local last=0
    [[ -e $tmp/done ]] && last=1
    rc=0
    "$OP" --cache-dir "$dir" show --json >"$tmp/show$i.json" 2>"$tmp/show$i.err" || rc=$?
    n=$((n + 1))
    case $rc in
    0)
      jq -e '.calibration.complete == true and (.calibration.fields | length) >= 9' \
        "$tmp/show$i.json" >/dev/null || { echo "partial $n"; cp "$tmp/show$i.json" "$tmp/bad$i.json"; }
      echo "complete" ;;
    3) echo "not-calibrated" ;;
    *) echo "exit-$rc"; cp "$tmp/show$i.err" "$tmp/bad$i.err" ;;
    esac
    [[ $last == 1 ]] && break
  done >"$tmp/reads$i"
}
readers=()
for i in $(seq "$N"); do reader "$i" & readers+=($!); done
cals=()
for i in $(seq "$N"); do
  "$OP" --cache-dir "$dir" calibrate >"$tmp/run$i.out" 2>&1 &
  cals+=($!)
done
failed=0
for i in $(seq "$N"); do
  rc=0
  wait "${cals[$((i - 1))]}" || rc=$?
  [[ $rc == 0 ]] && continue
  failed=$((failed + 1))
  # A failed run's output without the fields it placed and read back: what
  # it could not tell, and why (CI once saw one failed run, and the 16 full
  # tables it printed hid which).
  { echo "run $i: exit $rc"; grep -Ev ' calibrated +passed *$' "$tmp/run$i.out"; } >"$tmp/failed$i.out"
done
: >"$tmp/done"
for p in "${readers[@]}"; do wait "$p"; done

[[ $failed == 0 ]] || fail "$failed of $N calibrate runs failed" "$tmp"/failed*.out
calibrated=$(grep -l '^calibrated: saved' "$tmp"/run*.out | wc -l)
hits=$(grep -l '^cache hit:' "$tmp"/run*.out | wc -l)
[[ $calibrated == 1 && $hits == $((N - 1)) ]] ||
  fail "$calibrated runs calibrated and $hits reused the entry, want 1 and $((N - 1))"
entries=$(find "$dir" -maxdepth 1 -name '*.json' | wc -l)
temps=$(find "$dir" -maxdepth 1 -name '.*.tmp-*' | wc -l)
[[ $entries == 1 && $temps == 0 ]] || fail "$entries entries and $temps temp files, want 1 and 0"
total=$(cat "$tmp"/reads* | wc -l)
complete=$(cat "$tmp"/reads* | grep -cx complete)
missing=$(cat "$tmp"/reads* | grep -cx not-calibrated)
bad=$(cat "$tmp"/reads* | grep -vcx -e complete -e not-calibrated)
[[ $bad == 0 ]] || fail "$bad reads saw a partial entry or failed: $(cat "$tmp"/reads* | sort | uniq -c | tr '\n' ' ')" \
  "$tmp"/bad*
[[ $complete -ge $N ]] || fail "only $complete complete reads"
[[ $failures == 0 ]] && ok "$N calibrate + $N show at once: 1 calibrated, $hits reused;" \
  "$total reads: $complete complete, $missing not calibrated (exit 3), 0 partial or exit 11"
finish
