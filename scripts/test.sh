#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the whole test suite (unit and live BPF tests) and ends with one
# "N passed, N failed, N skipped" line.
#
# With CI=true (.ci/run sets it) a test that cannot run must fail, not skip:
# each test does so itself, and this script is the backstop: any test meson
# reports as skipped fails the run, with its name and the reason it printed.
# In every mode a run in which no test ran fails: a typo in a test name, a
# build without tests, or a suite that skipped everything is not a green run.
set -uo pipefail
cd "$(dirname "$0")/.."
# meson names the log testlog.json, or testlog-<name>.json with --wrapper or
# --setup. A log left by an earlier run must not stand in for this one.
rm -f build/meson-logs/testlog*.json
meson test -C build --print-errorlogs --num-processes 1 "$@"
rc=$?
log=$(ls -t build/meson-logs/testlog*.json 2>/dev/null | head -1)
if [ -z "$log" ]; then
  echo "0 passed, 0 failed, 0 skipped: no test ran (meson test exit $rc)"
  exit $((rc != 0 ? rc : 1))
fi
python3 - "$log" "${CI:-}" <<'PY'
import json, sys
log, ci = sys.argv[1], sys.argv[2] == "true"
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "EXPECTEDFAIL": 0, "UNEXPECTEDPASS": 0, "ERROR": 0}
skipped = []
for line in open(log):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    r = t.get("result", "ERROR")
    counts[r] = counts.get(r, 0) + 1
    if r == "SKIP":
        # The reason is the test's own "SKIP: ..." line.
        why = [l for l in (t.get("stdout") or "").splitlines() if "SKIP" in l]
        skipped.append(f"{t.get('name')}: {why[-1] if why else '(no reason printed)'}")
passed = counts["OK"] + counts["EXPECTEDFAIL"]
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["UNEXPECTEDPASS"] + counts["ERROR"]
print(f"{passed} passed, {failed} failed, {counts['SKIP']} skipped")
bad = 0
for s in skipped:
    print(("FAIL (CI=true, a test skipped) " if ci else "skipped ") + s)
if ci and skipped:
    bad = 1
if passed + failed == 0:
    print("FAIL: no test ran")
    bad = 1
sys.exit(bad)
PY
verdict=$?
[ "$rc" -ne 0 ] && exit "$rc"
exit "$verdict"
