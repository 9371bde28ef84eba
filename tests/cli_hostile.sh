#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Hostile input at the command line: each NAME / RUN / EXPECT block plants one
# hostile cache entry for the running kernel (or passes a bad flag or a bad
# OFFSETPROBE_CACHE_DIR) and checks that show and export refuse it with a
# message and the documented exit code, and that calibrate (as root, with
# BPF) replaces a corrupt entry. The library-level checks of the same files
# (each error code and message) are in test_cache_store.cpp; this is the CLI.
# Usage: cli_hostile.sh OFFSETPROBE_BINARY SYNTHETIC_ENTRY_TOOL
set -uo pipefail
OP=$1 SYNTH=$2
tmp=$(mktemp -d /tmp/offsetprobe-hostile-XXXXXX)
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect CODE REGEX CMD...: exit CODE and stderr matching REGEX.
expect() {
  local want=$1 re=$2 rc=0
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [[ $rc != "$want" ]]; then
    fail "$* exited $rc, want $want: $(head -c 300 "$tmp/err")"
    return 1
  fi
  if [[ -n $re ]] && ! grep -Eq "$re" "$tmp/err"; then
    fail "$*: stderr does not match /$re/: $(head -c 300 "$tmp/err")"
    return 1
  fi
}
root=0
[[ $(id -u) == 0 ]] && root=1

dir=$tmp/c
entry=$("$SYNTH" "$dir")
good=$tmp/good.json
cp "$entry" "$good"
reset() { rm -rf "$dir"; mkdir -p "$dir"; chmod 755 "$dir"; install -m 0644 "$good" "$entry"; }
# refused NAME CODE REGEX: show and export both refuse the planted entry,
# and the entry's offsets never reach stdout.
refused() {
  local name=$1 code=$2 re=$3 before=$failures
  expect "$code" "$re" "$OP" --cache-dir "$dir" show
  grep -q 'task_struct' "$tmp/out" && fail "$name: show printed offsets"
  expect "$code" "$re" "$OP" --cache-dir "$dir" export --format c-header
  grep -q '#define' "$tmp/out" && fail "$name: export printed offsets"
  expect "$code" "$re" "$OP" --cache-dir "$dir" export --format env
  [[ $failures == "$before" ]] && echo "ok   $name: show/export exit $code, \"$(head -1 "$tmp/err" | cut -c1-100)\""
}
# with_json NAME REGEX JQ_FILTER: the good entry through a jq edit.
with_json() {
  reset
  jq "$3" "$good" >"$entry.new" && mv "$entry.new" "$entry" && chmod 0644 "$entry"
  refused "$1" 11 "$2"
}
# with_text NAME REGEX TEXT: the entry's bytes replaced by TEXT.
with_text() {
  reset
  printf '%s' "$3" >"$entry"
  refused "$1" 11 "$2"
}

reset
expect 0 "" "$OP" --cache-dir "$dir" show || fail "the planted good entry does not load"

# --- unsafe files --------------------------------------------------------------
reset; mv "$entry" "$tmp/elsewhere.json"; ln -s "$tmp/elsewhere.json" "$entry"
refused "symlinked entry" 11 "symlink"
reset; ln "$entry" "$tmp/hardlink.json"
refused "hard-linked entry" 11 "hard link|links"
rm -f "$tmp/hardlink.json"
if [[ $root == 1 ]]; then
  reset; chown 65534:65534 "$entry"
  refused "entry owned by another user" 11 "owned by"
  reset; chmod 0666 "$entry"
  refused "world-writable entry" 11 "world-writable"
  reset; chmod 0777 "$dir"
  refused "world-writable cache dir" 11 "world-writable"
elif [[ ${CI:-} == true ]]; then
  fail "not root under CI=true: the owner and mode checks cannot run"
else
  echo "SKIP (part): not root: the owner and mode checks apply only to root"
fi
# A 1 GiB (sparse) entry is refused by its size, before it is read: strace
# counts the bytes show reads from it (a timed check would break on a loaded
# machine; this one does not depend on speed).
reset; truncate -s 1G "$entry"
refused "1 GiB sparse entry" 11 "too large|bytes"
if command -v strace >/dev/null; then
  strace -qq -e trace=openat,read,pread64,readv,mmap -o "$tmp/strace.log" \
    "$OP" --cache-dir "$dir" show >/dev/null 2>&1
  # The descriptor the entry was opened on (relative to the cache dir's),
  # then every read from it.
  base=$(basename "$entry")
  fd=$(sed -nE "s|^openat\(.*\"([^\"]*/)?$base\".* = ([0-9]+)\$|\2|p" "$tmp/strace.log" | tail -1)
  if [[ -z $fd ]]; then
    fail "1 GiB sparse entry: strace shows no open of $base: $(grep -c . "$tmp/strace.log") syscalls traced"
  else
    bytes=$(awk -v fd="$fd" '$0 ~ "^(read|pread64|readv)\\(" fd "," { n += $NF } END { print n + 0 }' "$tmp/strace.log")
    maps=$(grep -cE "^mmap\(.*, $fd, " "$tmp/strace.log")
    [[ $bytes -lt 1048576 && $maps -eq 0 ]] &&
      echo "ok   1 GiB sparse entry refused after reading $bytes bytes of it (strace)" ||
      fail "1 GiB sparse entry: show read $bytes bytes of it and mapped it $maps times (read instead of stat?)"
  fi
elif [[ ${CI:-} == true ]]; then
  fail "strace is not installed under CI=true: cannot count the bytes read from the 1 GiB entry"
else
  echo "SKIP (part): strace is not installed: the bytes read from the 1 GiB entry are not counted"
fi

# --- bad contents ----------------------------------------------------------------
with_text "deeply nested JSON" "nested" "$(printf '%*s' 100000 '' | tr ' ' '[')"
with_text "NaN offset (not JSON)" "not valid JSON" \
  "$(jq -c '.calibration.fields[0].offset = 12345' "$good" | sed 's/12345/NaN/')"
with_text "truncated entry" "truncated" "$(head -c 200 "$good")"
with_json "offset of the wrong type" "not a non-negative integer" '.calibration.fields[0].offset = "2456"'
with_json "fields of the wrong type" "calibration.fields" '.calibration.fields = {}'
with_json "negative offset" "not a non-negative integer" '.calibration.fields[0].offset = -8'
with_json "float offset (1e300)" "not a non-negative integer" '.calibration.fields[0].offset = 1e300'
# jq holds numbers as doubles: 2^64-1 arrives as a float.
with_json "enormous offset (2^64-1)" "not a non-negative integer|not below 65536" '.calibration.fields[0].offset = 18446744073709551615'
with_json "offset 65536" "not below 65536" '.calibration.fields[0].offset = 65536'
with_json "offset past task_struct_size" "past task_struct_size" '.calibration.fields[0].offset = 60000'
with_json "a field name that injects a #define" "identifier" \
  '.calibration.fields[0].name = "task_struct.pid\n#define X 1"'
# Another build's entry under this build's name: exit 3, this kernel has none.
reset
jq '.kernel.build_id = "ffffffffffffffffffffffffffffffffffffffff"' "$good" >"$entry"
refused "another build's entry under this build's name" 3 "another build"

# --- calibrate replaces a corrupt entry (root + BPF) -------------------------------
if [[ $root == 1 ]] && bpftool prog show >/dev/null 2>&1; then
  reset; printf '{"schema": "offsetprobe/v1", "calibr' >"$entry"
  if expect 0 "ignoring the cache entry" "$OP" --cache-dir "$dir" calibrate &&
    grep -q '^calibrated: saved' "$tmp/out" &&
    expect 0 "" "$OP" --cache-dir "$dir" show; then
    echo "ok   calibrate replaces a corrupt entry (warns, calibrates, saves; show loads it)"
  else
    fail "calibrate did not replace the corrupt entry"
  fi
elif [[ ${CI:-} == true ]]; then
  fail "cannot check calibrate replacing a corrupt entry under CI=true (root + BPF needed)"
else
  echo "SKIP calibrate replaces a corrupt entry: needs root and BPF"
fi

# --- usage errors: exit 2 for every subcommand -------------------------------------
usage() { # usage ARGS...: exit 2
  expect 2 "" "$OP" "$@" || return
  ((usage_ok++))
}
usage_ok=0
for cmd in calibrate verify show export "cache list" "cache remove" "bundle create"; do
  usage $cmd --no-such-flag
done
usage
usage no-such-command
usage calibrate --trials 2
usage calibrate --trials many
usage calibrate --trials 33
usage calibrate --trigger kprobe
usage calibrate --timeout 5
usage calibrate --timeout -1
usage calibrate --timeout 99999999999999999999
usage --cache-dir
usage show --json extra-argument
usage export --format yaml
usage export --format
usage cache remove ../etc
usage cache remove "$(printf 'a%.0s' {1..300})"
usage verify --input
usage verify --input "$tmp/does-not-exist.json"
usage bundle create
echo "ok   $usage_ok bad command lines: exit 2 each"

# --- hostile OFFSETPROBE_CACHE_DIR --------------------------------------------------
expect 2 "not an absolute path" env OFFSETPROBE_CACHE_DIR=relative/dir "$OP" show &&
  echo "ok   relative OFFSETPROBE_CACHE_DIR: exit 2, \"$(head -1 "$tmp/err")\""
expect 3 "not calibrated.*$tmp/nonexistent" env OFFSETPROBE_CACHE_DIR="$tmp/nonexistent" "$OP" show &&
  echo "ok   non-existent OFFSETPROBE_CACHE_DIR: show exit 3, nothing created" &&
  [[ ! -e $tmp/nonexistent ]] || fail "show created the non-existent cache dir"
: >"$tmp/a-file"
expect 2 "not a directory" env OFFSETPROBE_CACHE_DIR="$tmp/a-file" "$OP" show &&
  echo "ok   OFFSETPROBE_CACHE_DIR is a file: show exit 2, \"$(head -1 "$tmp/err")\""
expect 2 "not a directory" env OFFSETPROBE_CACHE_DIR="$tmp/a-file" "$OP" calibrate &&
  echo "ok   OFFSETPROBE_CACHE_DIR is a file: calibrate exit 2 before any calibration"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "cli_hostile: all passed"
