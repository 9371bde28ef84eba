# SPDX-License-Identifier: GPL-2.0-only
# judge.jq: one kernel's result record from what run.sh collected (all inputs
# are --arg/--argjson). A field passes only when calibrate found exactly one
# offset and it equals the kernel's BTF, read by the host from the guest's own
# /sys/kernel/btf/vmlinux (btf-truth.sh), independently of `offsetprobe verify`.

def btf_offset($f):
  ($truth.task_struct.members // {}) as $m
  | ([$f.member] + ($f.aliases // [])) | map($m[.]) | map(select(. != null)) | first;

# `offsetprobe verify --json` output: its own per-field opinion, when it has one.
def verify_for($name):
  ($guest.verify.output.fields // []) | map(select(.name == $name)) | first;

# The last non-empty line of a stderr tail, as ": line", or nothing.
def last_line: (split("\n") | map(select(. != "")) | last) as $l | if $l == null then "" else ": " + $l end;

def field_verdict($f; $b):
  if $f.status == "calibrated" then
    if $b == null then "no-btf-member"
    elif $f.offset == $b then "ok"
    else "WRONG" end
  elif $f.status == "not_present" then (if $b == null then "ok-absent" else "WRONG-absent" end)
  elif $f.status == "ambiguous" then "ambiguous"
  else "missing" end;

($guest.calibrate.output // null) as $cal
| [ ($cal.fields // [])[] as $f
    | btf_offset($f) as $b
    | verify_for($f.name) as $v
    | { name: $f.name, member: $f.member, status: $f.status, offset: $f.offset,
        candidates: ($f.candidates // []), reason: ($f.reason // ""),
        validation: $f.validation, btf_offset: $b,
        verify: $v,
        verdict: field_verdict($f; $b) } ] as $fields
| [ if $failure != "" then $failure else empty end,
    if $guest == null then (if $failure == "" then "no result from the guest" else empty end)
    else
      (if $guest.env.btf_hidden != true then "BTF could not be hidden during calibration" else empty end),
      (if $guest.calibrate.rc != 0 then
         "calibrate exited \($guest.calibrate.rc)\($guest.calibrate.stderr | last_line)"
       else empty end),
      (if $cal == null then "calibrate printed no JSON" else empty end),
      (if $cal != null and ($fields | length) == 0 then "calibrate reported no fields" else empty end),
      (if $truth == null then "no BTF from the guest to check against" else empty end),
      (if $cal != null and $guest.verify.rc != 0 then
         "verify exited \($guest.verify.rc)\($guest.verify.stderr | last_line)"
       else empty end),
      (if $guest.count.available and $guest.count.rc != 0 then "count smoke test exited \($guest.count.rc)" else empty end),
      ($fields[] | select(.verdict | startswith("ok") | not)
        | "\(.name): \(.verdict) (offset \(.offset // "-"), BTF \(.btf_offset // "-"))"),
      # The two oracles must agree: a disagreement is a bug in one of them.
      ($fields[] | select(.verify != null and .verify.btf_offset != .btf_offset)
        | "\(.name): verify's BTF offset \(.verify.btf_offset // "-") differs from the host's \(.btf_offset // "-")"),
      ($fields[] | select(.verify != null and (.verdict == "ok") and .verify.verdict != "match")
        | "\(.name): verify says \(.verify.verdict) (\(.verify.detail))")
    end ] as $problems
| {
    schema: "offsetprobe-matrix-result/v1",
    request: $req, package: $pkg, suite: $suite, version: $ver,
    release: $release, flavour: $flavour,
    build_id: (if $build_id == "" then null else $build_id end),
    download: { bytes: $dl_bytes, seconds: $dl_s, cached: $dl_cached },
    calibrated_at: $calibrated_at,
    boot_seconds: $boot_s, qemu_cpu: $cpu, qemu_exit: $qrc, timed_out: $timed_out,
    config: $config, needs_module: $needs_module,
    btf: { present: ($truth != null), task_struct_size: ($truth.task_struct.size // null) },
    fields: $fields,
    count: (if $guest == null then null else $guest.count | {available, rc, seconds, stderr, output} end),
    guest: $guest,
    verdict: (if ($problems | length) == 0 then "pass" else "fail" end),
    failure: ($problems | join("; "))
  }
