#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the whole test suite (unit and live BPF tests). With CI=true a live test
# that cannot run fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
meson test -C build --print-errorlogs --num-processes 1 "$@"
