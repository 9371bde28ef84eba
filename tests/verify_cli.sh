#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `offsetprobe verify` end to end: input handling and exit codes, and
# --btf FILE with a real file (a copy of the running kernel's BTF, with the
# kernel's own hidden, and the offsets of pid and tcp_sock.total_retrans
# from bpftool).
# Usage: verify_cli.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect NAME WANT_RC STDERR_PATTERN -- ARGS... [< stdin via $stdin]
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local rc=0
  "$bin" verify "$@" <"${stdin:-/dev/null}" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL $name: exit $rc, want $want"; cat "$tmp/err"; failures=$((failures + 1))
  elif [[ -n $pattern ]] && ! grep -q -- "$pattern" "$tmp/err" "$tmp/out"; then
    echo "FAIL $name: output lacks '$pattern'"; cat "$tmp/err" "$tmp/out"; failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

field() { # member status offset
  printf '{"name":"task_struct.%s","struct":"task_struct","member":"%s","aliases":[],"size":4,"status":"%s","offset":%s,"trials":3,"validation":"%s"}' \
    "$1" "$1" "$2" "$3" "$([[ $2 == calibrated ]] && echo passed || echo not_run)"
}
calibration() { # fields...
  local IFS=,
  printf '{"backend":"libbpf","trigger":"tracepoint","trials":3,"scan_bytes":16384,"fields":[%s]}' "$*"
}

calibration "$(field offsetprobe_no_such_member not_present null)" >"$tmp/absent.json"
# pid is never at offset 0 of task_struct (thread_info or __state comes first).
calibration "$(field pid calibrated 0)" >"$tmp/wrong.json"
printf '{"kernel":{},"calibration":%s}' "$(cat "$tmp/wrong.json")" >"$tmp/entry.json"
echo '{"fields": [' >"$tmp/broken.json"
echo '{"calibration": 3}' >"$tmp/notcal.json"

OFFSETPROBE_CACHE_DIR=$tmp/empty-cache expect "no input and no cache entry" 3 "not calibrated" --
expect "missing file" 2 "$tmp/nope.json" -- --input "$tmp/nope.json"
expect "invalid JSON" 2 "$tmp/broken.json is not valid JSON" -- --input "$tmp/broken.json"
expect "not a calibration" 2 "$tmp/notcal.json" -- --input "$tmp/notcal.json"
stdin=$tmp/broken.json expect "invalid JSON on stdin" 2 "<stdin>" -- --input -
expect "no BTF file" 12 "no BTF at $tmp/none.btf" -- --input "$tmp/absent.json" --btf "$tmp/none.btf"
expect "bad input before missing BTF" 2 "" -- --input "$tmp/broken.json" --btf "$tmp/none.btf"

if [[ -r /sys/kernel/btf/vmlinux ]]; then
  expect "not present, not in BTF" 0 "agree with BTF" -- --input "$tmp/absent.json"
  expect "mismatch" 6 "mismatch" -- --input "$tmp/wrong.json"
  expect "cache entry format" 6 "offset 0 != BTF" -- --input "$tmp/entry.json"
  stdin=$tmp/entry.json expect "stdin, --json" 6 '"ok": false' -- --input - --json

  # --btf FILE: a copy of the kernel's BTF, judged with pid at bpftool's
  # offset (match) and 8 bytes further (mismatch). With /sys/kernel/btf
  # hidden (root: a private mount namespace), only the file can answer.
  cp /sys/kernel/btf/vmlinux "$tmp/vmlinux.btf"
  truth=$(bash "$(dirname "$0")/../scripts/matrix/btf-truth.sh" "$tmp/vmlinux.btf" 2>"$tmp/truth.err")
  pid_off=$(jq '.task_struct.members.pid' <<<"$truth" 2>/dev/null)
  if [[ ! $pid_off =~ ^[0-9]+$ ]]; then
    echo "FAIL: bpftool gave no offset of task_struct.pid: $(head -c 300 "$tmp/truth.err")"
    failures=$((failures + 1))
  else
    calibration "$(field pid calibrated "$pid_off")" >"$tmp/right.json"
    calibration "$(field pid calibrated $((pid_off + 8)))" >"$tmp/off8.json"
    expect "--btf FILE: pid at bpftool's $pid_off" 0 "agree with BTF" -- --input "$tmp/right.json" --btf "$tmp/vmlinux.btf"
    expect "--btf FILE: pid at $((pid_off + 8))" 6 "mismatch" -- --input "$tmp/off8.json" --btf "$tmp/vmlinux.btf"
    stdin=$tmp/right.json expect "--btf FILE --json names the file" 0 "\"btf\": \"$tmp/vmlinux.btf\"" \
      -- --input - --btf "$tmp/vmlinux.btf" --json
    # A net field the same way: tcp_sock.total_retrans, a member of
    # tcp_sock itself (the offset from the sk, docs/net-family.md).
    retrans_off=$(bash "$(dirname "$0")/../scripts/matrix/btf-truth.sh" "$tmp/vmlinux.btf" tcp_sock 2>>"$tmp/truth.err" |
      jq '.tcp_sock.members.total_retrans' 2>/dev/null)
    if [[ ! $retrans_off =~ ^[0-9]+$ ]]; then
      echo "FAIL: bpftool gave no offset of tcp_sock.total_retrans: $(head -c 300 "$tmp/truth.err")"
      failures=$((failures + 1))
    else
      retrans() { # offset
        printf '{"backend":"libbpf","trigger":"tracepoint","trials":3,"scan_bytes":16384,"fields":[{"name":"tcp_sock.total_retrans","struct":"tcp_sock","member":"total_retrans","aliases":[],"size":4,"status":"calibrated","offset":%s,"trials":3,"validation":"passed"}]}' "$1"
      }
      retrans "$retrans_off" >"$tmp/retrans.json"
      retrans $((retrans_off + 4)) >"$tmp/retrans4.json"
      expect "--btf FILE: tcp_sock.total_retrans at bpftool's $retrans_off" 0 "agree with BTF" -- --input "$tmp/retrans.json" --btf "$tmp/vmlinux.btf"
      expect "--btf FILE: tcp_sock.total_retrans at $((retrans_off + 4))" 6 "mismatch" -- --input "$tmp/retrans4.json" --btf "$tmp/vmlinux.btf"
    fi
    if [[ $(id -u) -eq 0 ]]; then
      rc=0
      unshare -m sh -c 'mount -t tmpfs none /sys/kernel/btf && test ! -e /sys/kernel/btf/vmlinux &&
        "$0" verify --input "$1" --btf "$2" && { "$0" verify --input "$1"; test $? -eq 12; }' \
        "$bin" "$tmp/right.json" "$tmp/vmlinux.btf" >"$tmp/hidden.out" 2>&1 || rc=$?
      if [[ $rc -eq 0 ]]; then
        echo "ok   --btf FILE with /sys/kernel/btf hidden: the file answers (exit 0; without --btf exit 12)"
      else
        echo "FAIL --btf FILE with /sys/kernel/btf hidden: exit $rc"; cat "$tmp/hidden.out"
        failures=$((failures + 1))
      fi
    elif [[ ${CI:-} == true ]]; then
      echo "FAIL: not root under CI=true: cannot hide /sys/kernel/btf for --btf FILE"; failures=$((failures + 1))
    else
      echo "SKIP (part): not root: --btf FILE not run with /sys/kernel/btf hidden"
    fi
  fi
elif [[ ${CI:-} == true ]]; then
  echo "FAIL: /sys/kernel/btf/vmlinux is missing and CI=true"; failures=$((failures + 1))
else
  echo "SKIP: /sys/kernel/btf/vmlinux is missing: BTF comparisons not run"
  exit $((failures > 0 ? 1 : 77))
fi

exit $((failures > 0))
