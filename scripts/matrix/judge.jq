# SPDX-License-Identifier: GPL-2.0-only
# judge.jq: one kernel's result record from what run.sh collected (--arg,
# --argjson, and --slurpfile guest_file / truth_file). A field passes only when
# calibrate found exactly one offset and it equals the kernel's BTF, read by
# the host from the guest's own /sys/kernel/btf/vmlinux (btf-truth.sh, every
# struct the calibration names), independently of `offsetprobe verify`.
#
# Verdicts: ok; ok-absent (not_present, and BTF has no such member); optional
# (unresolved or ambiguous with required=false: the experiment could not run
# in this guest; reported, not a failure); WRONG, WRONG-absent, ambiguous,
# missing, no-btf-member (failures).

# $truth_source: "btf" (the guest's own BTF), or "build:FILE" for a local
# kernel judged against its build-time offsetof() truth (a randomized layout,
# whose BTF is wrong). There, a field not calibrated is "cannot-tell" (listed
# with its reason, not a failure), and verify's BTF opinions are not an oracle.
($truth_source | startswith("build:")) as $build_truth
| ($guest_file[0] // null) as $guest
| ($truth_file[0] // null) as $truth
|
def btf_offset($f):
  ($truth[$f.struct // "task_struct"].members // {}) as $m
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
  elif $f.required == false then "optional"
  elif $build_truth then "cannot-tell"
  elif $f.status == "ambiguous" then "ambiguous"
  else "missing" end;

($guest.calibrate.output // null) as $cal
| [ ($cal.fields // [])[] as $f
    | btf_offset($f) as $b
    | verify_for($f.name) as $v
    | { name: $f.name, struct: ($f.struct // "task_struct"), member: $f.member,
        required: ($f.required != false), status: $f.status, offset: $f.offset,
        candidates: ($f.candidates // []), reason: ($f.reason // ""),
        validation: $f.validation, btf_offset: $b,
        verify: $v,
        verdict: field_verdict($f; $b) } ] as $fields
# verify exits 6 when any field is not a match, a required=false unresolved
# one included: its exit status fails the kernel only when a field the matrix
# does not excuse (optional, or absent on both sides) is behind it.
| ($fields | map(select(.verify != null and .verify.verdict != "match"
                          and .verdict != "optional" and .verdict != "ok-absent"))) as $verify_bad
# The counting-probe smoke test: the subject's pid counted exactly N times,
# under its /proc/<pid>/stat start ticks, checked ok (or exited after an ok),
# no mismatch and no read error. Re-checked here from count's final JSON.
| ($guest.count // null) as $c
| (($c.output.processes // []) | map(select(.pid == $c.pid)) | first) as $row
| (if $c == null or $c.available != true then null
   else [ (if $c.output == null then "no final JSON from count (exit \($c.rc))\($c.stderr // "" | last_line)" else empty end),
          (if $c.output != null and ($c.output.final != true) then "count's last JSON object is not final" else empty end),
          (if $c.output != null and $row == null then "pid \($c.pid) not counted" else empty end),
          (if $row != null and $row.count != $c.n then "counted \($row.count), expected \($c.n)" else empty end),
          (if $row != null and $row.start_ticks != $c.proc_start_ticks
           then "start_ticks \($row.start_ticks) != /proc/\($c.pid)/stat field 22 \($c.proc_start_ticks)" else empty end),
          (if $row != null and ($row.check | IN("ok", "exited") | not) then "check \($row.check)" else empty end),
          (if $c.output != null and ($c.output.mismatches // 0) != 0 then "\($c.output.mismatches) mismatches" else empty end),
          (if $c.output != null and ($c.output.drops.read_error // 0) != 0 then "\($c.output.drops.read_error) read errors" else empty end),
          (if ($c.rc | IN(0, 143) | not) then "count exited \($c.rc)" else empty end),
          (if $c.pass != true and ($c.why // "") != "" then "guest: \($c.why)" else empty end)
        ] end) as $count_problems
# The fleet bundle's path: a bundle of this kernel's own cold entry,
# validated in the guest (BTF hidden). It must take the read-back path
# ("bundle", or "bundle+calibrated" where the cold run left an optional field
# unresolved: those are calibrated again) and report every field the cold
# calibration found at the same offset, read back ("passed"), and every
# absent one absent.
| ($guest.bundled // null) as $bun
| ($bun.output // null) as $bout
| (if $bun == null or $bun.available != true then null
   else [ (if ($bun.why // "") == "" and $bun.rc != 0 then "exited \($bun.rc)\($bun.stderr // "" | last_line)" else empty end),
          (if ($bun.why // "") != "" then "guest: \($bun.why)" else empty end),
          (if $bun.rc == 0 and $bout == null then "printed no JSON" else empty end),
          (if $bout != null and ($bout.source | IN("bundle", "bundle+calibrated") | not)
           then "source \($bout.source // "-"), not the bundle's read-back" else empty end),
          (if $bout != null then
             ($cal.fields // [])[] as $f
             | (($bout.fields // []) | map(select(.name == $f.name)) | first) as $b
             | if $b == null then "\($f.name) not reported"
               elif $f.status == "calibrated" and ($b.status != "calibrated" or $b.offset != $f.offset or $b.validation != "passed")
               then "\($f.name): \($b.status) at \($b.offset // "-") (\($b.validation // "-")), cold \($f.offset)"
               elif $f.status == "not_present" and $b.status != "not_present" then "\($f.name): \($b.status), cold not_present"
               else empty end
           else empty end)
        ] end) as $bundle_problems
| [ if $failure != "" then $failure else empty end,
    if $guest == null then (if $failure == "" then "no result from the guest" else empty end)
    else
      (if $guest.env.btf_hidden != true then "BTF could not be hidden during calibration" else empty end),
      # On a kernel judged against its build-time truth, calibrate exits 4
      # (exit_incomplete) when a field is "cannot tell" (an interchangeable
      # pair); the tally then says whether any field was wrong. A validation
      # failure (5) still fails the kernel.
      (if $guest.calibrate.rc != 0 and ($build_truth and $guest.calibrate.rc == 4 | not) then
         "calibrate exited \($guest.calibrate.rc)\($guest.calibrate.stderr | last_line)"
       else empty end),
      (if $cal == null then "calibrate printed no JSON" else empty end),
      (if $cal != null and ($fields | length) == 0 then "calibrate reported no fields" else empty end),
      (if $truth == null then (if $build_truth then "no build-time truth" else "no BTF from the guest to check against" end) else empty end),
      (if $cal != null and $guest.verify.output == null then
         "verify printed no JSON (exit \($guest.verify.rc))\($guest.verify.stderr | last_line)"
       elif $cal != null and $guest.verify.rc != 0 and ($guest.verify.rc != 6 or (($verify_bad | length) > 0 and ($build_truth | not))) then
         "verify exited \($guest.verify.rc)\($guest.verify.stderr | last_line)"
       else empty end),
      (if $count_expected and ($c == null or $c.available != true) then
         "count smoke test not run: \($c.why // "no count block")"
       else empty end),
      (if $bundle_expected and ($bun == null or ($bun.available != true and (($bun.why // "") | startswith("skipped:") | not))) then
         "bundle validation not run: \($bun.why // "no bundled block")"
       else empty end),
      (if $bundle_problems != null and ($bundle_problems | length) > 0 then
         "bundle validation: \($bundle_problems | .[0:4] | join(", "))\(if ($bundle_problems | length) > 4 then " and \(($bundle_problems | length) - 4) more" else "" end)"
       else empty end),
      (if $count_problems != null and ($count_problems | length) > 0 then
         "count smoke test: \($count_problems | join(", "))" else empty end),
      ($fields[] | select((.verdict | startswith("ok")) or .verdict == "optional" or .verdict == "cannot-tell" | not)
        | "\(.name): \(.verdict) (offset \(.offset // "-"), BTF \(.btf_offset // "-"))"),
      # The two oracles must agree: a disagreement is a bug in one of them.
      ($fields[] | select($build_truth | not) | select(.verify != null and .verify.btf_offset != .btf_offset)
        | "\(.name): verify's BTF offset \(.verify.btf_offset // "-") differs from the host's \(.btf_offset // "-")"),
      ($fields[] | select($build_truth | not) | select(.verify != null and (.verdict == "ok") and .verify.verdict != "match")
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
    truth_source: $truth_source,
    layout: ($cal.layout // null),
    tally: { exact: ($fields | map(select(.verdict | startswith("ok"))) | length),
             cannot_tell: ($fields | map(select(.verdict == "cannot-tell" or .verdict == "optional" or .verdict == "ambiguous" or .verdict == "missing")) | length),
             wrong: ($fields | map(select(.verdict | startswith("WRONG"))) | length) },
    fields: $fields,
    count: (if $c == null then null
            else ($c | {available, n, pid, proc_start_ticks, rc, seconds, why, stderr, output})
                 + { counted: ($row.count // null), start_ticks: ($row.start_ticks // null),
                     check: ($row.check // null), guest_pass: $c.pass,
                     pass: ($c.available == true and $count_problems != null and ($count_problems | length) == 0) } end),
    bundled: (if $bun == null then null
              else ($bun | {available, rc, seconds, why})
                   + { source: ($bout.source // null), elapsed_ms: ($bout.elapsed_ms // null),
                       pass: ($bun.available == true and $bundle_problems != null and ($bundle_problems | length) == 0) } end),
    guest: $guest,
    verdict: (if ($problems | length) == 0 then "pass" else "fail" end),
    failure: ($problems | join("; "))
  }
