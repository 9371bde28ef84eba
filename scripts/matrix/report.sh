#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# report.sh RESULTS_DIR [WALL_SECONDS] [OFFSETPROBE]: summary.md, summary.json
# and bundle.json from RESULTS_DIR/kernels/*/result.json (run.sh calls it; it
# can be rerun on its own). With OFFSETPROBE (a binary that has `bundle
# create`), the bundle is made by it; otherwise a plain offsetprobe-bundle/v1
# JSON object is written here. Exits 1 when any kernel did not pass, or a
# kernel listed in kernels.txt left no result.
set -euo pipefail
out=${1:?usage: report.sh RESULTS_DIR [WALL_SECONDS] [OFFSETPROBE]}
wall=${2:-null}
tool=${3:-}

results=()
missing=()
while read -r req pkg _; do
  release=${pkg#linux-image-}; release=${release%-unsigned}
  if [ -s "$out/kernels/$release/result.json" ]; then results+=("$out/kernels/$release/result.json")
  else missing+=("$req ($pkg)"); fi
done <"$out/kernels.txt"

jq -s --argjson wall "$wall" --argjson missing "$(printf '%s\n' "${missing[@]}" | jq -R . | jq -s 'map(select(. != ""))')" '
  # A field that calibrate reports on one kernel and leaves out on another is
  # missing there: the run fails, as for a field reported unresolved.
  (map(.fields[].name) | unique) as $all
  | map((. as $r | $all - ($r.fields | map(.name))) as $lost
        | if ($lost | length) > 0 and .guest != null and .guest.calibrate.output != null then
            .verdict = "fail"
            | .failure = ([.failure, "not reported by calibrate: \($lost | join(", "))"] | map(select(. != "")) | join("; "))
          else . end)
  | {
    schema: "offsetprobe-matrix-summary/v1",
    wall_seconds: $wall,
    kernels: length,
    passed: map(select(.verdict == "pass")) | length,
    fields_checked: (map(.fields | length) | add // 0),
    fields_ok: (map(.fields[] | select(.verdict | startswith("ok"))) | length),
    fields_equal_btf: (map(.fields[] | select(.verdict == "ok")) | length),
    fields_absent: (map(.fields[] | select(.verdict == "ok-absent")) | length),
    fields_optional_unresolved: (map(.fields[] | select(.verdict == "optional")) | length),
    count_smoke: {run: map(select(.count.available == true)) | length,
                  passed: map(select(.count.pass == true)) | length},
    bundle_readback: {run: map(select(.bundled.available == true)) | length,
                      passed: map(select(.bundled.pass == true)) | length},
    runner_failures: $missing,
    results: map({package, release, flavour, suite, version, verdict, failure, boot_seconds,
                  download, btf, needs_module,
                  calibrate_ms: (.guest.calibrate.output.elapsed_ms // null),
                  count: (if .count == null then null
                          else .count | {available, pass, n, counted, start_ticks, proc_start_ticks, check, rc, why} end),
                  bundled: .bundled,
                  fields: (.fields | map({name, required, status, offset, btf_offset, verdict, reason}))})
  }' "${results[@]}" >"$out/summary.json"

# The Markdown tables: one row per kernel with the task family's fields (the
# catalogue's first, task_struct's own: OFFSETPROBE's `fields task`) as
# columns and the pointer-chain fields summed up; then one row per chain field
# with its offset on each kernel. summary.json and the per-kernel result.json
# have every field in full. Without OFFSETPROBE, every task_struct field
# reported is a column.
direct=null
if [ -n "$tool" ]; then
  direct=$("$tool" fields --json task 2>/dev/null | jq -c 'map(.name)') || direct=null
fi
jq -r --argjson direct "$direct" '
  ($direct // (reduce (.results[].fields[].name | select(startswith("task_struct."))) as $n
                 ([]; if any(.[]; . == $n) then . else . + [$n] end))) as $direct
  # in the order calibrate reports them
  | (reduce (.results[].fields[].name) as $n ([]; if any(.[]; . == $n) then . else . + [$n] end)
     | map(select(. as $n | $direct | index($n) | not))) as $chain_names
  | def short: sub("^task_struct\\."; "");
  def cell($r; $n):
    ($r.fields | map(select(.name == $n)) | first) as $f
    | if $f == null then "-"
      elif $f.verdict == "ok" then "\($f.offset) ok"
      elif $f.verdict == "ok-absent" then "absent ok"
      elif $f.verdict == "optional" then "n/r"
      elif $f.verdict == "WRONG" then "**\($f.offset) WRONG** (BTF \($f.btf_offset))"
      else "**\($f.verdict)** (BTF \($f.btf_offset // "-"))" end;
  def chain_cell($r):
    ($r.fields | map(select(.name as $n | $direct | index($n) | not))) as $c
    | if ($c | length) == 0 then "-"
      else "\($c | map(select(.verdict == "ok")) | length)/\($c | length) = BTF"
        + ([($c | map(select(.verdict == "ok-absent")) | length) as $k | if $k > 0 then "\($k) absent" else empty end,
            ($c | map(select(.verdict == "optional")) | length) as $k | if $k > 0 then "\($k) not resolved (optional)" else empty end,
            ($c | map(select(.verdict | IN("ok", "ok-absent", "optional") | not)) | length) as $k
              | if $k > 0 then "**\($k) failed**" else empty end]
           | if length > 0 then ", " + join(", ") else "" end) end;
  def count_cell($r):
    if $r.count == null or $r.count.available != true then "-"
    elif $r.count.pass then "\($r.count.counted)/\($r.count.n) ok"
    else "**FAIL** (\($r.count.counted // "-")/\($r.count.n))" end;
  def rel($r): $r.release | sub("-(amd64|arm64)$"; "");
  . as $s
  | "| kernel package | release | flavour | suite | " + ($direct | map(short) | join(" | "))
      + " | chain fields | count smoke | task_struct size | s | verdict |",
    "|" + ([range(0; ($direct | length) + 9)] | map("---") | join("|")) + "|",
    (.results[] as $r
      | "| \($r.package) | \($r.release) | \($r.flavour) | \($r.suite) | "
        + ($direct | map(cell($r; .)) | join(" | "))
        + " | \(chain_cell($r)) | \(count_cell($r)) | \($r.btf.task_struct_size // "-") | \($r.boot_seconds) | "
        + (if $r.verdict == "pass" then "pass" else "**FAIL**: \($r.failure | .[0:200])" end) + " |"),
    "",
    "\(.kernels) kernels, \(.passed) passed; \(.fields_ok)/\(.fields_checked) fields pass"
    + " (\(.fields_equal_btf) calibrated and equal to BTF, \(.fields_absent) absent on both sides"
    + (if .fields_optional_unresolved > 0 then ", \(.fields_optional_unresolved) not resolved but optional" else "" end)
    + "); count smoke \(.count_smoke.passed)/\(.count_smoke.run)"
    + "; bundle read-back \(.bundle_readback.passed)/\(.bundle_readback.run)"
    + "; wall \(.wall_seconds // "-") s."
    + (if (.runner_failures | length) > 0 then " No result (runner failure): \(.runner_failures | join(", "))." else "" end),
    (if ($chain_names | length) > 0 then
      "",
      "Pointer-chain fields, offset on each kernel (`absent`: not present on that kernel and not in its BTF; `n/r`: not resolved, required=false):",
      "",
      "| field | " + ($s.results | map(rel(.)) | join(" | ")) + " |",
      "|" + ([range(0; ($s.results | length) + 1)] | map("---") | join("|")) + "|",
      ($chain_names[] as $n
        | "| \($n) | " + ($s.results | map(. as $r | cell($r; $n) | sub(" ok$"; "")) | join(" | ")) + " |")
    else empty end)
' "$out/summary.json" >"$out/summary.md"

# The bundle: every kernel that passed.
passed=$(jq -r '.results[] | select(.verdict == "pass") | .release' "$out/summary.json")
if [ -n "$tool" ]; then
  # `bundle create` takes cache entries (offsetprobe/v1). Use the guest's own
  # entry when calibrate wrote one; otherwise wrap the guest's calibrate output
  # in an entry here (same kernel key: the GNU build id from /sys/kernel/notes).
  files=()
  for r in $passed; do
    kd=$out/kernels/$r
    entry=$(ls "$kd"/guest-files/cache/*.json 2>/dev/null | head -n1 || true)
    if [ -z "$entry" ]; then
      entry=$kd/cache-entry.json
      jq '{schema: "offsetprobe/v1",
           kernel: {build_id, build_id_source: "gnu-build-id", release: .guest.release,
                    version: .guest.kernel_version, machine: .guest.machine},
           tool: {name: "offsetprobe", version: .guest.version},
           calibrated_at: .calibrated_at,
           calibration: .guest.calibrate.output}' "$kd/result.json" >"$entry"
    fi
    files+=("$entry")
  done
  if [ "${#files[@]}" -gt 0 ]; then
    "$tool" -q bundle create -o "$out/bundle.json" "${files[@]}" \
      || echo "report: offsetprobe bundle create failed" >&2
  fi
else
  jq -s '{
      schema: "offsetprobe-bundle/v1",
      note: "written by scripts/matrix/report.sh: this offsetprobe has no `bundle create`",
      entries: (map(select(.verdict == "pass")
        | {key: .release, value: {package, version, flavour, suite, build_id,
            calibration: .guest.calibrate.output}}) | from_entries)
    }' "${results[@]}" >"$out/bundle.json"
fi

cat "$out/summary.md"
if [ "${#missing[@]}" -gt 0 ] || [ "$(jq '.passed != .kernels' "$out/summary.json")" = true ]; then
  exit 1
fi
