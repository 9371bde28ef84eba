#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# fixture.sh KERNEL_RESULT_DIR OUT.json.gz: an offline fixture from one
# kernel's matrix results: the raw trials of `calibrate --dump-snapshots`, the
# BTF truth the host read from the guest's BTF, and what calibrate and verify
# said. run.sh calls it with --fixtures.
#
# The trials are spliced in byte for byte, never passed through jq: jq 1.6
# turns integers into doubles, and the task_struct addresses (> 2^53) that
# the pointer fields are solved from would lose their low bits.
set -euo pipefail
kd=${1:?usage: fixture.sh KERNEL_RESULT_DIR OUT.json.gz}
out=${2:?usage: fixture.sh KERNEL_RESULT_DIR OUT.json.gz}
here=$(cd "$(dirname "$0")" && pwd)

snap=$kd/guest-files/snapshots.json
head=$(jq -c '{
    schema: "offsetprobe-matrix-fixture/v1",
    kernel: {package, suite, version, release, flavour, build_id},
    calibrate: .guest.calibrate.output,
    verify: .guest.verify.output
  }' "$kd/result.json")
truth=null
if [ -s "$kd/guest-files/btf.vmlinux.gz" ]; then
  tmp=$(mktemp)
  gunzip -c "$kd/guest-files/btf.vmlinux.gz" >"$tmp"
  truth=$("$here/btf-truth.sh" "$tmp" task_struct || echo null)
  rm -f "$tmp"
fi
{
  printf '%s,"btf_truth":%s,"snapshots":' "${head%\}}" "$truth"
  if [ -s "$snap" ]; then tr -d '\n' <"$snap"; else printf null; fi
  printf '}\n'
} | gzip -9n >"$out.tmp"
# The whole document must still be JSON (jq only checks it; it rewrites nothing).
gunzip -c "$out.tmp" | jq -e '.schema' >/dev/null
mv "$out.tmp" "$out"
