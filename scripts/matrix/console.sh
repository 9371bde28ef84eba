# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# How run.sh judges a guest from its console, sourced by run.sh and by
# tests/matrix_console.sh.

# A failure that says nothing about offsetprobe or the kernel: the mirror, a
# guest starved of CPU on a crowded host, or a kernel that panicked before
# offsetprobe ran (in its boot, or in guest-init.sh's busybox set-up:
# 6.12.95+deb12-cloud-amd64 once took a double fault under TCG in a clone()
# of that set-up, and booted on the next tries). Tried again (--retries),
# and both attempts are reported. A panic after guest-init.sh's STARTING
# line, printed just before its first offsetprobe command, is never
# retried: it may be offsetprobe's doing.
transient_re='^(download failed|guest hung|guest printed no result block|no console output|guest panicked before offsetprobe ran|guest panicked in the emulator)'

# tcg_double_fault CONSOLE_LOG: true when the panic is QEMU's TCG failing at
# one instruction, not the kernel's code or ours. Under TCG (Debian 12's
# QEMU 7.2), the slab allocator's per-CPU fast path took a double fault right
# after its `cmpxchg16b %gs:(%rsi)`, with garbage in EFLAGS:
# 6.12.95+deb12-cloud-amd64 in kmem_cache_alloc at 2.7 s in a clone() of
# guest-init.sh's set-up (twelfth session) and at 4.5 s in the execve() that
# started its first offsetprobe command (2026-12-03 11:10 UTC,
# tests/fixtures/matrix/), passing on the boots between and after;
# 6.12.107+deb13-cloud-amd64 in __kmalloc (the same inlined fast path) at
# 4.8 s in a subject's unshare() (2026-12-04, the amd64 fleet archive run).
# Narrow on purpose: a double fault, the first kernel RIP in
# kmem_cache_alloc* or __kmalloc*, that instruction just before it in the Code
# bytes, an EFLAGS no CPU can hold (a reserved bit, 22-31, set), and no BPF
# program anywhere in the oops. Anything else after STARTING is reported.
tcg_double_fault() {
  local oops rip code flags
  oops=$(tr -d '\r' <"$1" | sed -n '/Oops: double fault/,/Kernel panic/p')
  [ -n "$oops" ] || return 1
  grep -qi bpf <<<"$oops" && return 1
  rip=$(grep -m1 'RIP: 0010:' <<<"$oops")
  code=$(grep -m1 -A1 'RIP: 0010:' <<<"$oops" | grep -m1 'Code:')
  flags=$(grep -m1 -A2 'RIP: 0010:' <<<"$oops" | grep -m1 -o 'EFLAGS: [0-9a-f]*' | cut -d' ' -f2)
  [[ $rip == *'RIP: 0010:kmem_cache_alloc'* || $rip == *'RIP: 0010:__kmalloc'* ]] || return 1
  [[ $code == *'65 48 0f c7 0e 75 '* ]] || return 1
  [[ -n $flags ]] && (((16#$flags & 0xffc00000) != 0))
}

# is_transient FAILURE: true when run.sh boots the kernel again.
is_transient() { grep -qE "$transient_re" <<<"$1"; }
# is_emulator_fault FAILURE: console_failure's verdict for tcg_double_fault.
is_emulator_fault() { [[ $1 == "guest panicked in the emulator"* ]]; }

# console_failure CONSOLE_LOG BLOCK TIMED_OUT(true|false) TIMEOUT_S QEMU_RC:
# why a guest whose console holds no valid result block failed (CONSOLE_LOG
# is not empty; BLOCK is the result block taken from it, empty or not JSON).
console_failure() {
  local log=$1 block=$2 timed_out=$3 timeout_s=$4 qrc=$5
  if grep -q 'Kernel panic' "$log"; then
    local when="guest panicked"
    if ! grep -q '=====OFFSETPROBE-STARTING=====' "$log"; then
      when="guest panicked before offsetprobe ran"
    elif tcg_double_fault "$log"; then
      when="guest panicked in the emulator (TCG double fault after the slab fast path's cmpxchg16b, impossible EFLAGS, no BPF in the oops)"
    fi
    echo "$when: $(tr -d '\r' <"$log" | grep -m1 'Kernel panic' | cut -c1-160)"
  elif [ "$timed_out" = true ]; then
    echo "guest hung: no result after ${timeout_s}s"
  elif [ -s "$block" ]; then
    echo "guest result block is not valid JSON"
  else
    echo "guest printed no result block (qemu exit $qrc)"
  fi
}
