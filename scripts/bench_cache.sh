#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Cache-hit benchmark: `offsetprobe show` as a whole process (hyperfine when
# installed, else a timed loop) and the header-only reader in-process.
# Targets: show < 3 ms, reader lookup < 50 us. Prints figures, asserts nothing.
# Writes a synthetic valid entry for the running kernel into a temp cache dir
# (the real one is never touched).
#   scripts/bench_cache.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
op=build/offsetprobe/offsetprobe
synth=build/tests/op-synthetic-entry
bench=build/tests/bench_reader
for f in "$op" "$synth" "$bench"; do [[ -x $f ]] || { echo "build first: ninja -C build ($f)"; exit 1; }; done
dir=$(mktemp -d /tmp/offsetprobe-bench-XXXXXX)
chmod 0755 "$dir"
trap 'rm -rf "$dir"' EXIT
"$synth" "$dir" >/dev/null
"$op" --cache-dir "$dir" show >/dev/null

echo "== offsetprobe show (whole process, cache hit), target < 3 ms"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$dir/hf.json" \
    "$op --cache-dir $dir show" "$op --cache-dir $dir show --json" >/dev/null
  jq -r '.results[] | "\(.command | sub(".*offsetprobe "; "")): mean \(.mean*1000*1000|round/1000) ms  median \(.median*1000*1000|round/1000) ms  min \(.min*1000*1000|round/1000) ms  max \(.max*1000*1000|round/1000) ms"' "$dir/hf.json"
else
  for args in "show" "show --json"; do
    ts=()
    for _ in $(seq "$runs"); do
      t0=$(date +%s%N); "$op" --cache-dir "$dir" $args >/dev/null; t1=$(date +%s%N)
      ts+=($(( (t1 - t0) / 1000 )))
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk -v a="$args" '{v[NR]=$1} END {printf "%s: median %.3f ms  p90 %.3f ms  (loop with date; includes fork/exec of the shell)\n", a, v[int(NR/2)+1]/1000, v[int(NR*0.9)]/1000}'
  done
fi

echo "== header-only reader, in-process, target < 50 us"
"$bench" "$dir" 5000
