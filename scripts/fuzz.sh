#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds the cache entry fuzzer with clang's libFuzzer and ASan/UBSan and runs
# it for SECONDS (default 180) on the seed corpus tests/fuzz/corpus.
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer args...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-180}; shift || true
out=build-fuzz
mkdir -p "$out" "$out/corpus"
version=$(sed -n "s/^  version: '\(.*\)',/\1/p" meson.build)
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DOFFSETPROBE_VERSION="\"$version\"" -I. \
  tests/fuzz/fuzz_cache_entry.cpp cache/kernel_id.cpp cache/store.cpp cache/export.cpp \
  calibration/model/result.cpp calibration/model/result_json.cpp \
  -o "$out/fuzz_cache_entry"
# The seeds: a valid entry and a few broken ones (first run writes them).
if [[ ! -e tests/fuzz/corpus/valid.json && -x build/tests/op-synthetic-entry ]]; then
  tmp=$(mktemp -d); build/tests/op-synthetic-entry "$tmp" 00112233445566778899aabbccddeeff00112233 >/dev/null
  cp "$tmp"/*.json tests/fuzz/corpus/valid.json; rm -rf "$tmp"
fi
# Run on a scratch copy so the corpus in the tree stays small.
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_cache_entry" "$out/corpus" \
  -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
