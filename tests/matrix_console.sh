#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   matrix_console: how the matrix judges a guest from its console
# RUN    scripts/matrix/console.sh's console_failure and is_transient on
#        consoles made here and on two real ones (no QEMU)
# EXPECT a panic before offsetprobe ran (no STARTING line from
#        guest-init.sh, which prints it just before its first offsetprobe
#        command) is a passing reason, tried again; a panic after it is not
#        (it may be offsetprobe's doing), except QEMU TCG's double fault in
#        the slab fast path (kmem_cache_alloc, __kmalloc) with an EFLAGS no
#        CPU can hold; a hang, no result block and a bad block are what they
#        were
# Usage: matrix_console.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091 # sourced from the tree, by path
. "$here/../scripts/matrix/console.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
check() { # NAME GOT WANT_PREFIX WANT_TRANSIENT(yes|no)
  local t=no
  is_transient "$2" && t=yes
  if [[ $2 == "$3"* && $t == "$4" ]]; then
    echo "ok   $1: $2 (retried: $t)"
  else
    echo "FAIL $1: got '$2' (retried: $t), want '$3...' (retried: $4)"
    bad=$((bad + 1))
  fi
}
: >"$tmp/empty.json"

printf 'Linux version 6.12\r\ntraps: double fault\r\nKernel panic - not syncing: Fatal exception in interrupt\r\n' >"$tmp/early"
check "panic before offsetprobe ran" "$(console_failure "$tmp/early" "$tmp/empty.json" false 600 0)" \
  "guest panicked before offsetprobe ran: Kernel panic - not syncing: Fatal exception" yes

printf 'Linux version 6.12\n=====OFFSETPROBE-STARTING=====\r\nBUG: unable to handle page fault\nKernel panic - not syncing: Fatal exception\n' >"$tmp/late"
check "panic once offsetprobe started" "$(console_failure "$tmp/late" "$tmp/empty.json" false 600 0)" \
  "guest panicked: Kernel panic - not syncing: Fatal exception" no

# The emulator's double fault (tests/fixtures/matrix/, a real console of
# 6.12.95+deb12-cloud-amd64 under TCG), and the same oops with what must
# keep it reported: a BPF program on its stack, another function at its RIP.
fault=$here/fixtures/matrix/tcg-double-fault.console.log
check "TCG's double fault after STARTING" "$(console_failure "$fault" "$tmp/empty.json" false 600 0)" \
  "guest panicked in the emulator (TCG double fault" yes
sed 's/ security_inode_alloc+0x2c/ bpf_prog_6deef7357e7b4530_scan+0x2c/' "$fault" >"$tmp/bpf"
if is_emulator_fault "$(console_failure "$fault" "$tmp/empty.json" false 600 0)" &&
  ! is_emulator_fault "guest panicked: x"; then
  echo "ok   is_emulator_fault tells the two apart"
else
  echo "FAIL is_emulator_fault"
  bad=$((bad + 1))
fi
check "the same with a BPF program on the stack" \
  "$(console_failure "$tmp/bpf" "$tmp/empty.json" false 600 0)" "guest panicked: " no
sed 's/RIP: 0010:kmem_cache_alloc_noprof/RIP: 0010:__x64_sys_bpf/' "$fault" >"$tmp/rip"
check "the same at another RIP" "$(console_failure "$tmp/rip" "$tmp/empty.json" false 600 0)" \
  "guest panicked: " no
sed 's/65 48 0f c7 0e 75 a8/65 48 0f c7 0f 75 a8/' "$fault" >"$tmp/insn"
check "the same after another instruction" \
  "$(console_failure "$tmp/insn" "$tmp/empty.json" false 600 0)" "guest panicked: " no
sed 's/EFLAGS: 56da0fc2/EFLAGS: 00010246/' "$fault" >"$tmp/flags"
check "the same with an EFLAGS a CPU can hold" \
  "$(console_failure "$tmp/flags" "$tmp/empty.json" false 600 0)" "guest panicked: " no
# The same fault in __kmalloc (the slab's fast path inlined there), a real
# console of 6.12.107+deb13-cloud-amd64 from the fleet archive of 2026-12-04,
# in a subject's unshare(); with a possible EFLAGS it stays reported.
kfault=$here/fixtures/matrix/tcg-double-fault-kmalloc.console.log
check "TCG's double fault in __kmalloc" "$(console_failure "$kfault" "$tmp/empty.json" false 600 0)" \
  "guest panicked in the emulator (TCG double fault" yes
sed 's/EFLAGS: 75960e42/EFLAGS: 00000246/' "$kfault" >"$tmp/kflags"
check "the same in __kmalloc with an EFLAGS a CPU can hold" \
  "$(console_failure "$tmp/kflags" "$tmp/empty.json" false 600 0)" "guest panicked: " no

printf 'Linux version 6.12\n=====OFFSETPROBE-STARTING=====\n' >"$tmp/quiet"
check "hung" "$(console_failure "$tmp/quiet" "$tmp/empty.json" true 600 124)" \
  "guest hung: no result after 600s" yes
check "no result block" "$(console_failure "$tmp/quiet" "$tmp/empty.json" false 600 0)" \
  "guest printed no result block (qemu exit 0)" yes
echo '{"schema": ' >"$tmp/block.json"
check "a result block that is not JSON" "$(console_failure "$tmp/quiet" "$tmp/block.json" false 600 0)" \
  "guest result block is not valid JSON" no
check "a wrong offset is never retried" "offset mismatch" "offset mismatch" no
check "a download is" "download failed: 404" "download failed" yes

# guest-init.sh prints STARTING once, before its first offsetprobe command.
init=$here/../scripts/matrix/guest-init.sh
marker=$(grep -n '^echo "=====OFFSETPROBE-STARTING====="' "$init" | cut -d: -f1)
# shellcheck disable=SC2016 # the literal text $OP in guest-init.sh
first_op=$(grep -n '\$OP\b' "$init" | grep -v '^[0-9]*: *#' | head -1 | cut -d: -f1)
if [[ $(grep -c '=====OFFSETPROBE-STARTING=====' "$init") -eq 1 && -n $marker && -n $first_op &&
  $marker -lt $first_op ]]; then
  echo "ok   guest-init.sh prints STARTING (line $marker) before its first offsetprobe command (line $first_op)"
else
  echo "FAIL guest-init.sh: STARTING at line '${marker}', first offsetprobe command at line '${first_op}'"
  bad=$((bad + 1))
fi
[[ $bad -eq 0 ]] || { echo "$bad check(s) failed"; exit 1; }
