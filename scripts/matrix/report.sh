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
    runner_failures: $missing,
    results: map({package, release, flavour, suite, version, verdict, failure, boot_seconds,
                  download, btf, needs_module,
                  fields: (.fields | map({name, offset, btf_offset, verdict}))})
  }' "${results[@]}" >"$out/summary.json"

# The Markdown table.
jq -r '
  def cols: (.results | map(.fields[].name) | unique) as $u
    | if ($u | length) > 0 then $u
      else ["pid","tgid","comm","group_leader","real_parent","parent","exit_code","start_time","start_boottime"]
           | map("task_struct." + .) end;
  def short: sub("^task_struct\\."; "");
  def cell($r; $n):
    ($r.fields | map(select(.name == $n)) | first) as $f
    | if $f == null then "-"
      elif $f.verdict == "ok" then "\($f.offset) ok"
      elif $f.verdict == "ok-absent" then "absent ok"
      elif $f.verdict == "WRONG" then "**\($f.offset) WRONG** (BTF \($f.btf_offset))"
      else "**\($f.verdict)** (BTF \($f.btf_offset // "-"))" end;
  cols as $cols
  | "| kernel package | release | flavour | suite | " + ($cols | map(short) | join(" | ")) + " | task_struct size | s | verdict |",
    "|" + ([range(0; ($cols | length) + 7)] | map("---") | join("|")) + "|",
    (.results[] as $r
      | "| \($r.package) | \($r.release) | \($r.flavour) | \($r.suite) | "
        + ($cols | map(cell($r; .)) | join(" | "))
        + " | \($r.btf.task_struct_size // "-") | \($r.boot_seconds) | "
        + (if $r.verdict == "pass" then "pass" else "**FAIL**: \($r.failure | .[0:200])" end) + " |"),
    "",
    "\(.kernels) kernels, \(.passed) passed; \(.fields_ok)/\(.fields_checked) fields equal BTF; wall \(.wall_seconds // "-") s."
    + (if (.runner_failures | length) > 0 then " No result (runner failure): \(.runner_failures | join(", "))." else "" end)
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
