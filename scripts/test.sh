#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the whole test suite (unit and live BPF tests) and ends with one
# "N passed, N failed, N skipped" line. With CI=true a live test that cannot
# run fails instead of skipping.
set -uo pipefail
cd "$(dirname "$0")/.."
meson test -C build --print-errorlogs --num-processes 1 "$@"
rc=$?
log=build/meson-logs/testlog.json
if [ -f "$log" ]; then
  python3 - "$log" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "EXPECTEDFAIL": 0, "UNEXPECTEDPASS": 0, "ERROR": 0}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        r = json.loads(line).get("result", "ERROR")
        counts[r] = counts.get(r, 0) + 1
passed = counts["OK"] + counts["EXPECTEDFAIL"]
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["UNEXPECTEDPASS"] + counts["ERROR"]
print(f"{passed} passed, {failed} failed, {counts['SKIP']} skipped")
PY
fi
exit $rc
