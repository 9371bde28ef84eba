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
transient_re='^(download failed|guest hung|guest printed no result block|no console output|guest panicked before offsetprobe ran)'

# is_transient FAILURE: true when run.sh boots the kernel again.
is_transient() { grep -qE "$transient_re" <<<"$1"; }

# console_failure CONSOLE_LOG BLOCK TIMED_OUT(true|false) TIMEOUT_S QEMU_RC:
# why a guest whose console holds no valid result block failed (CONSOLE_LOG
# is not empty; BLOCK is the result block taken from it, empty or not JSON).
console_failure() {
  local log=$1 block=$2 timed_out=$3 timeout_s=$4 qrc=$5
  if grep -q 'Kernel panic' "$log"; then
    local when="guest panicked"
    grep -q '=====OFFSETPROBE-STARTING=====' "$log" || when="guest panicked before offsetprobe ran"
    echo "$when: $(tr -d '\r' <"$log" | grep -m1 'Kernel panic' | cut -c1-160)"
  elif [ "$timed_out" = true ]; then
    echo "guest hung: no result after ${timeout_s}s"
  elif [ -s "$block" ]; then
    echo "guest result block is not valid JSON"
  else
    echo "guest printed no result block (qemu exit $qrc)"
  fi
}
