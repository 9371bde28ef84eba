#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs tests of python/ with Debian's python3 and pytest (python3-pytest,
# python3-bpfcc: scripts/setup.sh installs both), for meson test.
#
#   python/run_pytest.sh [--live] TEST_FILE...
#
# --live: a run where a test skipped (root, BPF or a tool missing) exits 77,
# meson's "skipped", so the skip shows in the suite's summary instead of
# passing unseen. Under CI=true those tests fail instead of skipping.
set -uo pipefail
live=0
if [ "${1:-}" = --live ]; then
  live=1
  shift
fi
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1  # nothing written into the source tree
if ! "$py" -c 'import pytest' 2>/dev/null; then
  echo "python3-pytest is not installed (scripts/setup.sh installs it)" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# -p no:cacheprovider: no .pytest_cache in the source tree.
"$py" -m pytest -p no:cacheprovider -rs -v "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ] && [ "$live" = 1 ] && grep -q ' SKIPPED' "$out"; then
  exit 77
fi
exit "$rc"
