# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# How run.sh judges a guest from its console, sourced by run.sh and by
# tests/matrix_console.sh.

# A failure that says nothing about offsetprobe or the kernel: the mirror, a
# guest starved of CPU on a crowded host, or a kernel that panicked in its
# own boot before /init ran (6.12.95+deb12-cloud-amd64 once took a double
# fault there under TCG, and booted on the next try). Tried again
# (--retries), and both attempts are reported. A panic after /init started
# (guest-init.sh's INIT-STARTED line) is never retried: it may be
# offsetprobe's doing.
transient_re='^(download failed|guest hung|guest printed no result block|no console output|guest panicked before /init)'

# is_transient FAILURE: true when run.sh boots the kernel again.
is_transient() { grep -qE "$transient_re" <<<"$1"; }

# console_failure CONSOLE_LOG BLOCK TIMED_OUT(true|false) TIMEOUT_S QEMU_RC:
# why a guest whose console holds no valid result block failed (CONSOLE_LOG
# is not empty; BLOCK is the result block taken from it, empty or not JSON).
console_failure() {
  local log=$1 block=$2 timed_out=$3 timeout_s=$4 qrc=$5
  if grep -q 'Kernel panic' "$log"; then
    local when="guest panicked"
    grep -q '=====OFFSETPROBE-INIT-STARTED=====' "$log" || when="guest panicked before /init"
    echo "$when: $(tr -d '\r' <"$log" | grep -m1 'Kernel panic' | cut -c1-160)"
  elif [ "$timed_out" = true ]; then
    echo "guest hung: no result after ${timeout_s}s"
  elif [ -s "$block" ]; then
    echo "guest result block is not valid JSON"
  else
    echo "guest printed no result block (qemu exit $qrc)"
  fi
}
