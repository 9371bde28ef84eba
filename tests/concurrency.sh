#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# 16 concurrent `offsetprobe calibrate` runs on an empty cache leave exactly
# one valid entry and no temp files; the later runs reuse the fresh entry.
# Skips (77) while calibrate is not built or cannot run here (needs root/BPF);
# with CI=true a run that cannot start fails instead.
set -uo pipefail
OP=$1
N=${N:-16}
dir=$(mktemp -d /tmp/offsetprobe-conc-XXXXXX)
chmod 0755 "$dir"
trap 'rm -rf "$dir"' EXIT
skip() { if [[ ${CI:-} == true ]]; then echo "FAIL (CI): $*"; exit 1; fi; echo "SKIP: $*"; exit 77; }

"$OP" --cache-dir "$dir/probe" calibrate >"$dir/probe.out" 2>&1
rc=$?
if grep -q "not built yet" "$dir/probe.out"; then skip "calibrate is not built yet"; fi
if [[ $rc == 7 || $rc == 8 || $rc == 10 ]]; then skip "calibrate cannot run here (exit $rc)"; fi

pids=()
for i in $(seq "$N"); do
  "$OP" --cache-dir "$dir/c" calibrate >"$dir/run$i.out" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
[[ $failed == 0 ]] || { cat "$dir"/run*.out; echo "FAIL: $failed of $N runs failed"; exit 1; }
entries=$(find "$dir/c" -maxdepth 1 -name '*.json' | wc -l)
temps=$(find "$dir/c" -maxdepth 1 -name '.*.tmp-*' | wc -l)
[[ $entries == 1 ]] || { echo "FAIL: $entries entries"; exit 1; }
[[ $temps == 0 ]] || { echo "FAIL: $temps temp files left"; exit 1; }
"$OP" --cache-dir "$dir/c" show >/dev/null || { echo "FAIL: the entry does not load"; exit 1; }
# Exactly one run calibrated; the others waited on the lock and reused it.
calibrated=$(grep -l '^calibrated: saved' "$dir"/run*.out | wc -l)
hits=$(grep -l '^cache hit:' "$dir"/run*.out | wc -l)
[[ $calibrated == 1 ]] || { echo "FAIL: $calibrated runs calibrated, want 1"; exit 1; }
[[ $hits == $((N - 1)) ]] || { echo "FAIL: $hits cache hits, want $((N - 1))"; exit 1; }
echo "concurrency: $N runs, one entry, no temp files"
