#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The randomized-layout matrix case of CI: kernel b (CONFIG_RANDSTRUCT_FULL,
# seed b565aa05…, which puts task_struct.cred directly before real_cred, the
# swapped adjacent pair the old declaration-order rule got wrong), booted
# under QEMU and judged against its build-time truth: 0 wrong offsets.
#
#   scripts/randstruct/matrix-kernel-b.sh OUT_DIR
#
# $OFFSETPROBE_RANDSTRUCT_KERNEL_B names a directory that already holds it
# (bzImage, config, truth.txt); otherwise build-kernel.sh builds it (about 10
# minutes on 2 cores, cached).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: $0 OUT_DIR}
seed=b565aa05f4570893f5fb9a10dccfc1299707d2220db2688c51cf362aace2ccc8
# ../shared/kernels/randstruct-6.1-b (beside the project, in CI too) holds it
# ready to boot: the build is the fallback.
shared=$here/../../../shared/kernels/randstruct-6.1-b
dir=${OFFSETPROBE_RANDSTRUCT_KERNEL_B:-}
if [ -z "$dir" ] && [ -f "$shared/bzImage" ] && [ -f "$shared/truth.txt" ] &&
  grep -q "$seed" "$shared/seed" 2>/dev/null; then
  dir=$(cd "$shared" && pwd)
fi
[ -n "$dir" ] || dir=$("$here/build-kernel.sh" --mode full --seed "$seed")
rc=0
# The kernel's build-time truth (truth.txt) lists the structs of the families
# it was built for: the guest calibrates those (the net and files families
# came later and have no truth to be judged against there).
"$here/../matrix/run.sh" --kernel-dir "$dir" --fields task,cred,ns,mm,audit -o "$out" || rc=$?
# The record must show the randomized layout detected and no wrong field.
for r in "$out"/kernels/*/result.json; do
  jq -e '.tally.wrong == 0 and (.layout // "" | startswith("randomized layout detected"))' "$r" >/dev/null \
    || { echo "randstruct: $r: wrong fields or no randomized layout detected" >&2; rc=1; }
  jq -r '"randstruct: \(.release): \(.tally.exact) exact, \(.tally.cannot_tell) cannot tell, \(.tally.wrong) wrong"' "$r" >&2
done
exit "$rc"
