#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# fixture.sh KERNEL_RESULT_DIR OUT.json.gz: an offline solver fixture from one
# kernel's matrix results, in the format of tests/fixtures/README.md
# (offsetprobe-fixture/v1): the raw trials of `calibrate --dump-snapshots`
# and the kernel's BTF offsets. run.sh calls it with --fixtures.
#
# The BTF offsets are the host's own (btf-truth.sh on the guest's BTF copy),
# keyed by the calibration's field names; an alias (real_start_time before
# 5.5) stands in for its field. They must agree with `verify`, or no fixture.
#
# The trials are spliced in byte for byte, never passed through jq: jq 1.6
# turns integers into doubles, and the task_struct addresses (> 2^53) that
# the pointer fields are solved from would lose their low bits.
set -euo pipefail
kd=${1:?usage: fixture.sh KERNEL_RESULT_DIR OUT.json.gz}
out=${2:?usage: fixture.sh KERNEL_RESULT_DIR OUT.json.gz}
here=$(cd "$(dirname "$0")" && pwd)

snap=$kd/guest-files/snapshots.json
[ -s "$snap" ] || { echo "fixture: $kd has no snapshots.json (calibrate --dump-snapshots)" >&2; exit 1; }
# A local kernel judged against its build-time truth (a randomized layout,
# whose BTF describes the declared order: docs/randstruct.md): that truth,
# which run.sh wrote to btf-truth.json in btf-truth.sh's shape, is the
# fixture's `truth`; neither its BTF nor `verify` (which reads that BTF) is.
source=$(jq -r '.truth_source // "btf"' "$kd/result.json")
if [[ $source == build:* ]]; then
  truth=$(cat "$kd/btf-truth.json")
  jq -e '.task_struct.members.pid' <<<"$truth" >/dev/null ||
    { echo "fixture: $kd/btf-truth.json holds no build-time truth" >&2; exit 1; }
  key=truth
else
  [ -s "$kd/guest-files/btf.vmlinux.gz" ] || { echo "fixture: $kd has no BTF copy" >&2; exit 1; }
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  gunzip -c "$kd/guest-files/btf.vmlinux.gz" >"$tmp"
  # shellcheck disable=SC2046
  truth=$("$here/btf-truth.sh" "$tmp" $(jq -r '[.guest.calibrate.output.fields[]?.struct] + ["task_struct"] | unique | .[]' "$kd/result.json"))
  key=btf
fi

head=$(jq -c --argjson truth "$truth" --arg key "$key" --arg source "$source" '
  (.guest.calibrate.output.fields // []) as $fields
  | {
      format: "offsetprobe-fixture/v1",
      kernel: {release: .guest.release, version: .guest.kernel_version, machine: .guest.machine,
               package, suite, debian_version: .version, flavour, build_id},
      captured: .calibrated_at,
      ($key): ($fields | map(($truth[.struct // "task_struct"].members // {}) as $m
                          | {(.name): ([.member] + (.aliases // []) | map($m[.]) | map(select(. != null)) | first)})
                    | add | with_entries(select(.value != null)))
    } + (if $key == "truth" then {truth_source: ("build-time offsetof, " + $source),
                                   layout: .layout} else {} end)' "$kd/result.json")
# Cross-check with verify's oracle: the two must agree on every field. (Not
# for a build-time truth: verify reads the BTF, which is the wrong oracle there.)
if [ "$key" = btf ]; then
  disagree=$(jq -r --argjson h "$head" '(.guest.verify.output.fields // [])[]
    | select(.btf_offset != $h.btf[.name]) | .name' "$kd/result.json")
  [ -z "$disagree" ] || { echo "fixture: host BTF and verify disagree on: $disagree" >&2; exit 1; }
fi
{
  printf '%s,"trials":' "${head%\}}"
  tr -d '\n' <"$snap"
  printf '}\n'
} | gzip -9n >"$out.tmp"
gunzip -c "$out.tmp" | jq -e '.format' >/dev/null
mv "$out.tmp" "$out"

# The net family's raw trials (OFFSETPROBE_DUMP_NET_TRIALS in the guest), with
# the BTF offsets of its fields and the names the guest calibrated, as
# OUT's sibling net/<release>.json.gz (tests/test_net_replay.cpp). Spliced
# byte for byte like the trials above (its addresses are hex strings anyway).
net=$kd/guest-files/net-trials.json
if [ -s "$net" ] && [ "$key" = btf ]; then
  netout=$(dirname "$out")/net/$(jq -r '.guest.release' "$kd/result.json").json.gz
  mkdir -p "$(dirname "$netout")"
  nethead=$(jq -c --argjson head "$head" '
    (.guest.calibrate.output.fields // []) as $fields
    | ($fields | map(select((.struct // "") as $s
        | ["sock_common", "sock", "inet_sock", "tcp_sock", "socket"] | index($s))) ) as $net
    | {format: "offsetprobe-net-fixture/v1", kernel: $head.kernel, captured: $head.captured,
       btf: ($head.btf | with_entries(select(.key as $k | $net | map(.name) | index($k)))),
       calibrated: [$net[] | select(.status == "calibrated" and .validation == "passed") | .name]}' \
    "$kd/result.json")
  {
    printf '%s,"net_trials":' "${nethead%\}}"
    tr -d '\n' <"$net"
    printf '}\n'
  } | gzip -9n >"$netout.tmp"
  gunzip -c "$netout.tmp" | jq -e '.format' >/dev/null
  mv "$netout.tmp" "$netout"
fi
