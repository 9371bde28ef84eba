#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   no_bcc_maps
# RUN    readelf -d offsetprobe; OFFSETPROBE_TEST_PRINT_MAPS=1 offsetprobe
#        calibrate (the hook prints, at the end of the run, the process's
#        mapping count and every /proc/self/maps line naming bcc or LLVM)
# EXPECT offsetprobe needs no libbcc/LLVM; the default calibrate process maps
#        neither. Positive control, so that the check cannot pass vacuously:
#        the same hook in calibrate --backend bcc (same pid, exec'd into
#        offsetprobe-bcc) does report libbcc and libLLVM.
# Usage: no_bcc_maps.sh OFFSETPROBE_BINARY bcc|no-bcc (whether the build has
#        offsetprobe-bcc: without it there is no positive control to run)
set -uo pipefail
op=$1
built=${2:-bcc}
. "$(dirname "$0")/live.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# readelf must work: a missing or failing readelf is not "no dependencies".
command -v readelf >/dev/null || skip "readelf (binutils) is not installed"
rc=0
readelf -d "$op" >"$tmp/dynamic" 2>"$tmp/readelf.err" || rc=$?
if [[ $rc -ne 0 ]]; then
  fail "readelf -d $op: exit $rc: $(head -3 "$tmp/readelf.err")"
elif grep NEEDED "$tmp/dynamic" >"$tmp/needed"; then
  if grep -Ei 'bcc|LLVM|clang' "$tmp/needed"; then
    fail "offsetprobe links libbcc/LLVM"
  else
    ok "offsetprobe needs $(wc -l <"$tmp/needed") libraries, none of them libbcc or LLVM"
  fi
elif grep -q 'There is no dynamic section' "$tmp/dynamic" "$tmp/readelf.err"; then
  # A static build (kernel matrix) has no dynamic section at all.
  ok "offsetprobe has no dynamic dependencies (static)"
elif readelf -lW "$op" >"$tmp/headers" 2>>"$tmp/readelf.err" && ! grep -q INTERP "$tmp/headers" &&
  grep -q 'Type: *DYN' <(readelf -hW "$op"); then
  # A static PIE (the default build, -Dstatic_main): a dynamic section for
  # its own relocations, but no NEEDED entry and no interpreter.
  ok "offsetprobe has no dynamic dependencies (static PIE)"
else
  fail "readelf -d shows neither NEEDED entries nor \"no dynamic section\": $(head -3 "$tmp/dynamic")"
fi

need_root_bpf
rc=0
OFFSETPROBE_TEST_PRINT_MAPS=1 "$op" -q calibrate --no-cache >/dev/null 2>"$tmp/err" || rc=$?
[[ $rc -eq 7 ]] && skip "no BPF privileges: $(cat "$tmp/err")"
if [[ $rc -ne 0 ]]; then
  fail "calibrate: exit $rc"; cat "$tmp/err"; finish
fi
count=$(sed -n 's/^offsetprobe-maps: pid [0-9]*, \([0-9]*\) mappings$/\1/p' "$tmp/err")
if [[ -z $count || $count -lt 1 ]]; then
  fail "the maps hook did not run (no mapping count)"; cat "$tmp/err"
elif grep -E '^offsetprobe-maps: [0-9a-f]' "$tmp/err"; then
  fail "the default calibrate process maps libbcc or LLVM"
else
  ok "default calibrate: $count mappings, none of libbcc or LLVM"
fi

if [[ $built == no-bcc ]]; then
  skip_part "built without the BCC backend (no libbcc, or -Dbcc=disabled): no positive control"
  finish
fi
[[ -x $(dirname "$op")/offsetprobe-bcc ]] || { fail "offsetprobe-bcc missing from the build"; finish; }
rc=0
OFFSETPROBE_TEST_PRINT_MAPS=1 "$op" -q calibrate --no-cache --backend bcc >/dev/null 2>"$tmp/err" || rc=$?
[[ $rc -eq 13 ]] && skip "no kernel headers for BCC: positive control not run"
if [[ $rc -ne 0 ]]; then
  fail "calibrate --backend bcc: exit $rc"; cat "$tmp/err"
elif grep -q '^offsetprobe-maps: .*/libbcc[^/]*$' "$tmp/err" && grep -q '^offsetprobe-maps: .*/libLLVM[^/]*$' "$tmp/err"; then
  ok "positive control: calibrate --backend bcc maps libbcc and libLLVM, and the hook sees them"
else
  fail "positive control: the hook did not see libbcc and libLLVM in the BCC process"; cat "$tmp/err"
fi
finish
