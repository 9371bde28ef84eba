#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   calibrate_options: the calibrate options no other test runs
# RUN    offsetprobe calibrate on the running kernel (libbpf backend) with
#        --no-validate, --trials N, and --bundle FILE (a bundle of this
#        kernel's own entry, the same bundle with one offset moved, a bundle
#        without this kernel, a truncated one)
# EXPECT --no-validate: every field calibrated and equal to BTF (verify and
#        bpftool), validation "not_run", the result never complete and never
#        cached (exit 4). --trials 5: every calibrated field counted 5
#        trials, all equal to BTF; --trials 2 and 10 are usage errors (exit
#        2). --bundle: this kernel's offsets are taken from the bundle after
#        the read-back (source "bundle", saved in the cache); an offset moved
#        by 8 fails the read-back and calibrate runs the experiment instead
#        (source "calibrated", the right offset); a bundle without this
#        kernel calibrates; a truncated bundle is an error (exit 11), and
#        nothing is cached then.
# Root + BPF + BTF; skips (77) with the reason otherwise, fails under CI=true.
# Usage: calibrate_options.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf

# --- --no-validate -------------------------------------------------------------
rc=0
"$bin" --cache-dir "$tmp/nv-cache" calibrate --fields task --no-validate --json \
  >"$tmp/nv.json" 2>"$tmp/nv.err" || rc=$?
n_skipped=$(jq '[.fields[] | select(.status == "calibrated" and .validation == "not_run")] | length' \
  "$tmp/nv.json" 2>/dev/null)
if [[ $rc -ne 4 ]]; then
  fail "--no-validate: exit $rc, want 4 (calibrated, not validated: never complete)" "$tmp/nv.err" "$tmp/nv.json"
elif [[ $(jq .complete "$tmp/nv.json") != false || $n_skipped != 9 ]]; then
  fail "--no-validate: complete=$(jq .complete "$tmp/nv.json"), $n_skipped of 9 fields calibrated" \
    "with validation not_run" "$tmp/nv.json"
elif [[ -n $(ls -A "$tmp/nv-cache" 2>/dev/null | grep '\.json$') ]]; then
  fail "--no-validate: an unvalidated result was cached: $(ls "$tmp/nv-cache")"
else
  ok "--no-validate: exit 4, 9 fields calibrated with validation not_run, nothing cached"
fi
two_oracles "--no-validate" "$tmp/nv.json" --complete --validation not_run --min-fields 9

# --- --trials N ----------------------------------------------------------------
rc=0
"$bin" calibrate --no-cache --fields task --trials 5 --json >"$tmp/t5.json" 2>"$tmp/t5.err" || rc=$?
if [[ $rc -ne 0 ]]; then
  fail "--trials 5: exit $rc, want 0" "$tmp/t5.err" "$tmp/t5.json"
else
  trials=$(jq -c '[.fields[] | .trials] | unique' "$tmp/t5.json")
  [[ $trials == "[5]" ]] && ok "--trials 5: every field counted 5 trials" ||
    fail "--trials 5: the fields counted $trials trials, want [5]" "$tmp/t5.json"
  two_oracles "--trials 5" "$tmp/t5.json" --complete --min-fields 9
fi
for n in 2 10; do
  rc=0
  "$bin" calibrate --no-cache --trials "$n" >/dev/null 2>"$tmp/tn.err" || rc=$?
  [[ $rc -eq 2 ]] && ok "--trials $n: usage error, exit 2" || fail "--trials $n: exit $rc, want 2" "$tmp/tn.err"
done

# --- --bundle FILE (libbpf) -------------------------------------------------------
# This kernel's entry, calibrated here, as a bundle; then the same bundle
# with task_struct.pid moved by 8 bytes (onto tgid's neighbour).
rc=0
"$bin" -q --cache-dir "$tmp/src-cache" calibrate >/dev/null 2>"$tmp/src.err" || rc=$?
entry=$(ls "$tmp/src-cache"/*.json 2>/dev/null | head -1)
if [[ $rc -ne 0 || -z $entry ]]; then
  fail "--bundle: the source calibration failed (exit $rc) or saved nothing" "$tmp/src.err"
  finish
fi
"$bin" -q bundle create -o "$tmp/good.bundle" "$entry" 2>"$tmp/bundle.err" ||
  { fail "bundle create" "$tmp/bundle.err"; finish; }
pid_off=$(jq '.calibration.fields[] | select(.name == "task_struct.pid") | .offset' "$entry")
# bundle create writes offsetprobe-bundle/v2: builds -> layouts -> offsets.
[[ $(jq -r .schema "$tmp/good.bundle") == offsetprobe-bundle/v2 ]] ||
  fail "bundle create wrote $(jq -r .schema "$tmp/good.bundle"), want offsetprobe-bundle/v2"
jq --argjson to $((pid_off + 8)) \
  '.layouts[].fields |= map(if .name == "task_struct.pid" then .offset = $to else . end)' \
  "$tmp/good.bundle" >"$tmp/moved.bundle"
jq '.builds = {}' "$tmp/good.bundle" >"$tmp/other.bundle"
# And one with a network field moved: sock.sk_mark, an optional field, by 4
# bytes (the net family's read-back is its own program, in read-back mode).
mark_off=$(jq '.calibration.fields[] | select(.name == "sock.sk_mark" and .status == "calibrated") | .offset' "$entry")
jq --argjson to $((${mark_off:-0} + 4)) \
  '.layouts[].fields |= map(if .name == "sock.sk_mark" then .offset = $to else . end)' \
  "$tmp/good.bundle" >"$tmp/netmoved.bundle"
"$bin" -q bundle create --format v1 -o "$tmp/v1.bundle" "$entry" 2>"$tmp/bundle.err" ||
  fail "bundle create --format v1" "$tmp/bundle.err"
jq '.layouts = {}' "$tmp/good.bundle" >"$tmp/nolayout.bundle"
jq '.schema = "offsetprobe-bundle/v9"' "$tmp/good.bundle" >"$tmp/future.bundle"
cp "$tmp/good.bundle" "$tmp/notroot.bundle"
# A bundle made before a family's fields existed: this kernel's entry without
# tcp_sock's fields.
jq '.calibration.fields |= map(select(.name | startswith("tcp_sock.") | not))' "$entry" \
  >"$tmp/older-entry.json"
"$bin" -q bundle create -o "$tmp/older.bundle" "$tmp/older-entry.json" 2>"$tmp/bundle.err" ||
  fail "bundle create (older entry)" "$tmp/bundle.err"
# A bundle whose binary could not tell a field here: skc_net unresolved.
jq '.calibration.fields |= map(if .name == "sock_common.skc_net" then
      .status = "unresolved" | .offset = null | .validation = "not_run" |
      .reason = "no word of the sk leads to the subject'"'"'s net.ns.inum in every capture"
    else . end)' "$entry" >"$tmp/untold-entry.json"
"$bin" -q bundle create -o "$tmp/untold.bundle" "$tmp/untold-entry.json" 2>"$tmp/bundle.err" ||
  fail "bundle create (entry with skc_net unresolved)" "$tmp/bundle.err"

# bundle_run NAME BUNDLE: calibrate --bundle BUNDLE --json with an empty cache
# ($tmp/cache-NAME); sets rc.
bundle_run() {
  rc=0
  mkdir -p "$tmp/cache-$1"
  "$bin" --cache-dir "$tmp/cache-$1" calibrate --bundle "$2" --json "${@:3}" >"$tmp/$1.json" 2>"$tmp/$1.err" || rc=$?
}
cached() { ls "$tmp/cache-$1"/*.json 2>/dev/null | head -1; }

bundle_run good "$tmp/good.bundle"
src=$(jq -r .source "$tmp/good.json" 2>/dev/null)
if [[ $rc -ne 0 || $src != bundle ]]; then
  fail "--bundle (this kernel's entry): exit $rc, source $src, want 0 and bundle" "$tmp/good.err"
elif [[ -z $(cached good) ]]; then
  fail "--bundle: the bundle's entry passed the read-back but was not saved in the cache"
else
  ok "--bundle: this kernel's offsets taken from the bundle after the read-back, and cached"
  two_oracles "--bundle (from the bundle)" "$tmp/good.json" --complete --min-fields 40
fi

bundle_run moved "$tmp/moved.bundle"
src=$(jq -r .source "$tmp/moved.json" 2>/dev/null)
got=$(jq '.fields[] | select(.name == "task_struct.pid") | .offset' "$tmp/moved.json" 2>/dev/null)
if [[ $rc -ne 0 || $src != calibrated || $got != "$pid_off" ]]; then
  fail "--bundle with pid moved to $((pid_off + 8)): exit $rc, source $src, pid at $got;" \
    "want 0, calibrated, $pid_off" "$tmp/moved.err"
elif [[ $(jq '.calibration.fields[] | select(.name == "task_struct.pid") | .offset' "$(cached moved)" 2>/dev/null) != "$pid_off" ]]; then
  fail "--bundle with pid moved: the cache does not hold the calibrated pid offset $pid_off"
elif ! grep -q 'failed the read-back' "$tmp/moved.err"; then
  fail "--bundle with pid moved: no message that the bundle failed the read-back" "$tmp/moved.err"
else
  ok "--bundle with pid moved by 8: read-back failed, calibrated instead (pid at $got)"
  two_oracles "--bundle (pid moved, recalibrated)" "$tmp/moved.json" --complete --min-fields 40
fi

# An optional field that fails its read-back is not kept as "cannot tell":
# the bundle's entry is not this kernel's, the experiment runs.
if [[ -z $mark_off ]]; then
  fail "--bundle with sk_mark moved: sock.sk_mark is not calibrated in the source entry" "$tmp/src.err"
else
  bundle_run netmoved "$tmp/netmoved.bundle"
  src=$(jq -r .source "$tmp/netmoved.json" 2>/dev/null)
  got=$(jq '.fields[] | select(.name == "sock.sk_mark") | .offset' "$tmp/netmoved.json" 2>/dev/null)
  if [[ $rc -ne 0 || $src != calibrated || $got != "$mark_off" ]]; then
    fail "--bundle with sk_mark moved to $((mark_off + 4)): exit $rc, source $src, sk_mark at $got;" \
      "want 0, calibrated, $mark_off" "$tmp/netmoved.err"
  elif ! grep -q 'failed the read-back here (sock.sk_mark' "$tmp/netmoved.err"; then
    fail "--bundle with sk_mark moved: the message does not name sock.sk_mark" "$tmp/netmoved.err"
  else
    ok "--bundle with sk_mark moved by 4: its read-back failed, calibrated instead (sk_mark at $got)"
  fi
fi

# The older bundle: its fields read back, tcp_sock's calibrated here, the
# whole saved; the tcp_sock offsets equal those of the full calibration.
bundle_run older "$tmp/older.bundle"
src=$(jq -r .source "$tmp/older.json" 2>/dev/null)
want=$(jq -c '[.calibration.fields[] | select(.name | startswith("tcp_sock.")) | [.name, .offset]] | sort' "$entry")
got=$(jq -c '[.fields[] | select(.name | startswith("tcp_sock.")) | [.name, .offset]] | sort' "$tmp/older.json" 2>/dev/null)
if [[ $rc -ne 0 || $src != bundle+calibrated ]]; then
  fail "--bundle without tcp_sock's fields: exit $rc, source $src, want 0 and bundle+calibrated" "$tmp/older.err"
elif [[ $want == "[]" || $got != "$want" ]]; then
  fail "--bundle without tcp_sock's fields: tcp_sock $got, want $want"
elif [[ $(jq '.calibration.fields | length' "$(cached older)" 2>/dev/null) != $(jq '.calibration.fields | length' "$entry") ]]; then
  fail "--bundle without tcp_sock's fields: the cache entry does not hold every field"
else
  ok "--bundle without tcp_sock's fields: the bundle's read back, tcp_sock's calibrated here, all cached"
  two_oracles "--bundle (older bundle, the rest calibrated)" "$tmp/older.json" --complete --min-fields 40
fi

# The bundle could not tell skc_net: it is calibrated here (with what it
# rests on), the rest read back, and skc_net's offset is the full
# calibration's.
bundle_run untold "$tmp/untold.bundle"
src=$(jq -r .source "$tmp/untold.json" 2>/dev/null)
want=$(jq -c '.calibration.fields[] | select(.name == "sock_common.skc_net") | [.status, .offset]' "$entry")
got=$(jq -c '.fields[] | select(.name == "sock_common.skc_net") | [.status, .offset]' "$tmp/untold.json" 2>/dev/null)
n=$(jq '[.fields[] | select(.name == "sock_common.skc_net")] | length' "$tmp/untold.json" 2>/dev/null)
if [[ $rc -ne 0 || $src != bundle+calibrated ]]; then
  fail "--bundle with skc_net unresolved: exit $rc, source $src, want 0 and bundle+calibrated" "$tmp/untold.err"
elif [[ $want != '["calibrated",'* || $got != "$want" || $n != 1 ]]; then
  fail "--bundle with skc_net unresolved: skc_net $got ($n of it), want $want once"
else
  ok "--bundle with skc_net unresolved: calibrated here at $(jq -r '.[1]' <<<"$got"), the rest read back"
  two_oracles "--bundle (skc_net calibrated here)" "$tmp/untold.json" --complete --min-fields 40
fi

# A selection narrower than the bundle's entry: the entry read back whole
# (the subjects set every family's values; files' and net's read-backs rest
# on task_struct.mm and file.private_data), the selection's fields kept, as
# a cold calibration of the selection reports them.
for sel in task mm files net; do
  bundle_run "sel-$sel" "$tmp/good.bundle" --fields "$sel"
  src=$(jq -r .source "$tmp/sel-$sel.json" 2>/dev/null)
  got=$(jq -c '[.fields[].name] | sort' "$tmp/sel-$sel.json" 2>/dev/null)
  "$bin" -q --cache-dir "$tmp/cache-cold-$sel" calibrate --no-validate --trials 3 --json --fields "$sel" \
    >"$tmp/cold-$sel.json" 2>"$tmp/cold-$sel.err"
  want=$(jq -c '[.fields[].name] | sort' "$tmp/cold-$sel.json" 2>/dev/null)
  if [[ $rc -ne 0 || $src != bundle ]]; then
    fail "--bundle --fields $sel: exit $rc, source $src, want 0 and bundle" "$tmp/sel-$sel.err"
  elif [[ -z $want || $want == "[]" || $got != "$want" ]]; then
    fail "--bundle --fields $sel: fields $got, want those of a cold --fields $sel: $want"
  elif [[ $(jq -c '[.fields[] | [.name, .offset]] | sort' "$tmp/sel-$sel.json") != \
    "$(jq -c --argjson names "$got" '[.calibration.fields[] | select(.name as $n | any($names[]; . == $n)) | [.name, .offset]] | sort' "$entry")" ]]; then
    fail "--bundle --fields $sel: an offset differs from the bundle's entry"
  else
    ok "--bundle --fields $sel: $(jq length <<<"$got") fields read back from the bundle, as a cold run lists them"
  fi
done

bundle_run other "$tmp/other.bundle"
src=$(jq -r .source "$tmp/other.json" 2>/dev/null)
[[ $rc -eq 0 && $src == calibrated ]] &&
  ok "--bundle without this kernel: calibrated (exit 0)" ||
  fail "--bundle without this kernel: exit $rc, source $src, want 0 and calibrated" "$tmp/other.err"

bundle_run v1 "$tmp/v1.bundle"
src=$(jq -r .source "$tmp/v1.json" 2>/dev/null)
[[ $rc -eq 0 && $src == bundle ]] &&
  ok "--bundle in the v1 format (one entry per build): still read, source bundle" ||
  fail "--bundle v1: exit $rc, source $src, want 0 and bundle" "$tmp/v1.err"

# refused_bundle NAME WHY-PATTERN: a bundle named with --bundle that cannot be
# used is an error that names it (exit 11), and nothing is cached.
refused_bundle() {
  bundle_run "$1" "$tmp/$1.bundle"
  if [[ $rc -ne 11 ]]; then
    fail "--bundle ($1): exit $rc, want 11" "$tmp/$1.err"
  elif ! grep -qE "$2" "$tmp/$1.err"; then
    fail "--bundle ($1): the message does not say /$2/" "$tmp/$1.err"
  elif [[ -n $(cached "$1") ]]; then
    fail "--bundle ($1): something was cached: $(cached "$1")"
  else
    ok "--bundle ($1): refused, exit 11, \"$(head -1 "$tmp/$1.err")\""
  fi
}
refused_bundle nolayout 'layout .* is missing'
refused_bundle future 'newer offsetprobe'
chown nobody "$tmp/notroot.bundle"
refused_bundle notroot 'owned by'
rc=0
"$bin" --cache-dir "$tmp/cache-none" calibrate --bundle "$tmp/no-such.bundle" >/dev/null 2>"$tmp/none.err" || rc=$?
[[ $rc -eq 2 ]] && grep -q 'no-such.bundle' "$tmp/none.err" &&
  ok "--bundle naming no file: usage error, exit 2" ||
  fail "--bundle naming no file: exit $rc, want 2 with the name" "$tmp/none.err"

head -c 200 "$tmp/good.bundle" >"$tmp/truncated.bundle"
bundle_run truncated "$tmp/truncated.bundle"
if [[ $rc -ne 11 ]]; then
  fail "--bundle with a truncated file: exit $rc, want 11" "$tmp/truncated.err"
elif ! grep -q 'truncated.bundle' "$tmp/truncated.err"; then
  fail "--bundle with a truncated file: the message does not name the file" "$tmp/truncated.err"
elif [[ -n $(cached truncated) ]]; then
  fail "--bundle with a truncated file: something was cached: $(cached truncated)"
else
  ok "--bundle with a truncated file: exit 11, \"$(head -1 "$tmp/truncated.err")\""
fi
finish
