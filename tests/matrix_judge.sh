#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   matrix_judge: how the matrix judges a guest's bundle read-back
# RUN    scripts/matrix/judge.jq on guest blocks made here (no QEMU): a cold
#        calibration of three fields, equal to the kernel's BTF, and the
#        "bundled" block guest-init.sh adds (a bundle of that kernel's own
#        entry, validated with BTF hidden), in its passing form and altered
# EXPECT the kernel passes only when the bundled run took the read-back path
#        and reported every field as the cold run did (same offset, read
#        back; absent stays absent); an older binary without the block, or a
#        guest whose cold run wrote no entry, is not failed for it
# Usage: matrix_judge.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
judge=$here/../scripts/matrix/judge.jq
command -v jq >/dev/null || { echo "matrix_judge: jq missing (scripts/setup.sh installs it)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0

cat >"$tmp/truth.json" <<'EOF'
{"task_struct": {"size": 9000, "members": {"pid": 1234, "tgid": 1238}},
 "sock": {"size": 800, "members": {"sk_mark": 516}}}
EOF
# The cold calibration: two fields found, one absent on this kernel.
cold='[{"name": "task_struct.pid", "struct": "task_struct", "member": "pid", "status": "calibrated", "offset": 1234, "validation": "passed"},
       {"name": "task_struct.tgid", "struct": "task_struct", "member": "tgid", "status": "calibrated", "offset": 1238, "validation": "passed"},
       {"name": "sock.sk_cookie", "struct": "sock", "member": "sk_cookie", "status": "not_present", "validation": "not_run"}]'
verify='[{"name": "task_struct.pid", "verdict": "match", "btf_offset": 1234},
         {"name": "task_struct.tgid", "verdict": "match", "btf_offset": 1238},
         {"name": "sock.sk_cookie", "verdict": "match", "btf_offset": null}]'

# judge NAME BUNDLE_EXPECTED BUNDLED_JSON (null: no "bundled" block): the
# verdict and failure into $tmp/NAME.json
judge() {
  jq -n --argjson cold "$cold" --argjson verify "$verify" --argjson bundled "$3" '
    {env: {btf_hidden: true},
     calibrate: {rc: 0, stderr: "", output: {fields: $cold}},
     verify: {rc: 0, stderr: "", output: {fields: $verify}}}
    + (if $bundled == null then {} else {bundled: $bundled} end)' >"$tmp/guest.json"
  jq -n --arg req r --arg pkg linux-image-test --arg suite test --arg ver 1 --arg release 6.1.0-test \
    --arg flavour generic --arg failure "" --argjson dl_bytes 0 --argjson dl_s 0 \
    --argjson dl_cached true --argjson boot_s 1 --argjson qrc 0 --argjson timed_out false \
    --argjson config '{}' --arg needs_module "" --slurpfile guest_file "$tmp/guest.json" \
    --slurpfile truth_file "$tmp/truth.json" --arg build_id "" --arg cpu max \
    --argjson count_expected false --argjson bundle_expected "$2" --arg truth_source btf \
    --argjson count_n 1 --arg calibrated_at x -f "$judge" >"$tmp/$1.json"
}
# expect NAME VERDICT FAILURE_SUBSTRING ("" : none)
expect() {
  local v f
  v=$(jq -r .verdict "$tmp/$1.json")
  f=$(jq -r .failure "$tmp/$1.json")
  if [[ $v == "$2" && ($3 == "" && $f == "" || $3 != "" && $f == *"$3"*) ]]; then
    echo "ok   $1: $v${f:+ ($f)}"
  else
    echo "FAIL $1: got $v ($f), want $2${3:+ with '$3'}"
    bad=$((bad + 1))
  fi
}
# bundled JQ_EDIT: the passing block, edited
bundled() {
  jq -c --argjson cold "$cold" "$1" <<'EOF'
{"available": true, "rc": 0, "seconds": 0.2, "why": "", "stderr": "",
 "output": {"source": "bundle", "elapsed_ms": 30, "fields": []}}
EOF
}
pass='.output.fields = $cold'

judge passing true "$(bundled "$pass")"
expect passing pass ""
[[ $(jq -r .bundled.pass "$tmp/passing.json") == true ]] ||
  { echo "FAIL passing: bundled.pass is not true"; bad=$((bad + 1)); }

judge moved true "$(bundled "$pass | .output.fields[0].offset = 1242")"
expect moved fail "task_struct.pid: calibrated at 1242 (passed), cold 1234"

judge failed_readback true "$(bundled "$pass | .output.fields[1].validation = \"failed\"")"
expect failed_readback fail "task_struct.tgid: calibrated at 1238 (failed)"

judge calibrated_instead true "$(bundled "$pass | .output.source = \"calibrated\"")"
expect calibrated_instead fail "source calibrated, not the bundle's read-back"

judge absent_found true "$(bundled "$pass | .output.fields[2] += {status: \"calibrated\", offset: 9}")"
expect absent_found fail "sock.sk_cookie: calibrated, cold not_present"

judge dropped_field true "$(bundled "$pass | .output.fields |= .[0:2]")"
expect dropped_field fail "sock.sk_cookie not reported"

judge exited true "$(bundled "$pass | .rc = 5 | .stderr = \"offsetprobe: the offsets failed\"")"
expect exited fail "exited 5: offsetprobe: the offsets failed"

judge create_failed true "$(bundled '.output = null | .rc = -1 | .why = "bundle create failed: no"')"
expect create_failed fail "guest: bundle create failed: no"

judge partial_ok true "$(bundled "$pass | .output.source = \"bundle+calibrated\"")"
expect partial_ok pass ""

# Not failed for it: the cold run wrote no entry (the kernel is judged on
# that run), or a binary without the command and no block at all.
judge no_entry true "$(bundled '.available = false | .rc = -1 | .output = null | .why = "skipped: the cold calibration wrote no cache entry (exit 4)"')"
expect no_entry pass ""
judge older_binary false null
expect older_binary pass ""
# ...but a binary that has the command must have run it.
judge block_missing true null
expect block_missing fail "bundle validation not run"

[[ $bad -eq 0 ]] || { echo "matrix_judge: $bad failed"; exit 1; }
echo "matrix_judge: all passed"
