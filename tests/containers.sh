#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Calibrate inside namespaces, checked outside against BTF by two oracles,
# `verify --input` and bpftool (tests/oracle_check.py): a new pid namespace (with and without a remounted /proc), a new
# time namespace with boottime and monotonic offsets (where the kernel has
# time namespaces), both at once. Then without privileges: a non-root user,
# root without CAP_BPF/CAP_SYS_ADMIN/CAP_PERFMON (capsh and setpriv), root
# without CAP_PERFMON only, root of a user namespace: exit 7 and a message
# naming the missing capability.
# Usage: containers.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"

# in_ns NAME FIELDS UNSHARE_ARGS...: calibrate FIELDS (task: the 9 direct
# fields; all: with the pointer chains) in the namespaces; outside, complete,
# and every field equal to BTF by both oracles (verify and bpftool).
in_ns() {
  local name=$1 fields=$2 rc=0
  shift 2
  unshare "$@" "$bin" calibrate --no-cache --fields "$fields" --json >"$tmp/ns.json" 2>"$tmp/ns.err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "$name: exit $rc, want 0" "$tmp/ns.err" "$tmp/ns.json"
    return
  fi
  two_oracles "$name" "$tmp/ns.json" --complete --min-fields "$([[ $fields == task ]] && echo 9 || echo 40)"
}

in_ns "pid namespace (unshare -p -f --mount-proc)" task -p -f --mount-proc
in_ns "pid namespace, outer /proc (unshare -p -f)" task -p -f
# The chains' known values come from /proc/<pid>: with the outer /proc each
# subject names its own id there (/proc/thread-self). Before, the chains came
# out unresolved (exit 4) in this case.
in_ns "pid namespace, outer /proc (unshare -p -f), --fields all" all -p -f
in_ns "pid namespace (unshare -p -f --mount-proc), --fields all" all -p -f --mount-proc
if [[ -e /proc/self/ns/time ]]; then
  # The offsets must show inside, or the case tests nothing.
  inside=$(unshare -T --boottime 86400 --monotonic 3600 --fork cat /proc/self/timens_offsets 2>&1)
  # --fields task: with the chains, time_namespace.ns.inum is ambiguous in
  # about 1 run in 12 inside a time namespace (docs/pointer-chains.md, Limits).
  if ! grep -q 'boottime *86400' <<<"$inside"; then
    fail "time namespace: boottime offset not applied: $inside"
  else
    in_ns "time namespace, boottime +86400 s, monotonic +3600 s" task \
      -T --boottime 86400 --monotonic 3600 --fork
    in_ns "pid + time namespace" task -p -f --mount-proc -T --boottime 86400
  fi
else
  skip_part "time namespace: the kernel has no /proc/self/ns/time (CONFIG_TIME_NS)"
fi

# no_privilege NAME WANT_REGEX CMD...: exit 7, a message matching WANT_REGEX,
# no BPF object of ours left.
no_privilege() {
  local name=$1 want=$2 rc=0
  shift 2
  "$@" >"$tmp/np.out" 2>"$tmp/np.err" || rc=$?
  if [[ $rc -ne 7 ]]; then
    fail "$name: exit $rc, want 7" "$tmp/np.err"
  elif ! grep -Eq "$want" "$tmp/np.err"; then
    fail "$name: the message does not match /$want/" "$tmp/np.err"
  else
    ok "$name: exit 7, \"$(head -1 "$tmp/np.err")\""
  fi
}
no_privilege "non-root user (setpriv --reuid=65534)" 'missing CAP_BPF and CAP_PERFMON' \
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  "$bin" calibrate --no-cache
if command -v capsh >/dev/null; then
  no_privilege "root, capsh --drop=cap_bpf,cap_sys_admin,cap_perfmon" 'missing CAP_BPF and CAP_PERFMON' \
    capsh --drop=cap_bpf,cap_sys_admin,cap_perfmon -- -c "exec $bin calibrate --no-cache"
  no_privilege "root, capsh --drop=cap_perfmon,cap_sys_admin" 'missing CAP_PERFMON' \
    capsh --drop=cap_perfmon,cap_sys_admin -- -c "exec $bin calibrate --no-cache"
else
  skip_part "capsh (libcap2-bin) is not installed: the capsh cases cannot run"
fi
no_privilege "root, setpriv --bounding-set=-bpf,-sys_admin,-perfmon" 'missing CAP_BPF and CAP_PERFMON' \
  setpriv --inh-caps=-all --bounding-set=-bpf,-sys_admin,-perfmon \
  "$bin" calibrate --no-cache
# Root of a user namespace has every capability there, but not over BPF:
# the bpf() syscall says EPERM and that is what calibrate reports.
no_privilege "root of a user namespace (unshare -U -r)" 'EPERM.*CAP_BPF' \
  unshare -U -r "$bin" calibrate --no-cache
finish
