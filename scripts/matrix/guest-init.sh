#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0-only
# /init of the matrix initramfs (busybox sh, PID 1). Calibrates with BTF
# hidden, verifies with BTF back, and reports to the host on two serial ports:
#   ttyS0 (console): one JSON result block between the markers below;
#   ttyS1 (raw):     a gzipped tar of /out (the command outputs, stderr, a copy
#                    of /sys/kernel/btf/vmlinux for the host's own BTF oracle,
#                    and with fixtures the raw snapshots).
# Debian kernels ship no modules in this initramfs: everything used here (BPF
# syscall, tracepoints, tracefs, tmpfs, devtmpfs, 8250 UART) must be built in;
# the host checks the kernel config before booting and reports what is not.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
export HOME=/ TMPDIR=/tmp

mkdir -p /proc /sys /dev /tmp /out /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# Keep kernel messages off the console so they cannot split the result block.
echo 1 >/proc/sys/kernel/printk

cfg() { sed -n "s/^$1=//p" /matrix.conf; }
FIXTURES=$(cfg fixtures)
STEP_TIMEOUT=$(cfg step_timeout)
COUNT_N=$(cfg count_n)
OP=/bin/offsetprobe

now() { cut -d' ' -f1 /proc/uptime; }
T_INIT=$(now)

# JSON string from stdin (escapes, newlines joined, control characters dropped).
json_str() {
  awk 'BEGIN { ORS = "" ; print "\"" }
       { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/[\001-\037]/, "");
         if (NR > 1) print "\\n"; print }
       END { print "\"" }'
}
# The file's content when it holds a JSON object or array, else null. The host
# validates the whole block; this only keeps plain text out of JSON positions.
json_file() {
  if [ -s "$1" ] && head -c 1 "$1" | grep -q '[[{]'; then cat "$1"; else printf null; fi
}
tail_str() { if [ -s "$1" ]; then tail -n 20 "$1" | json_str; else printf '""'; fi; }
bool() { if "$@"; then printf true; else printf false; fi; }

# --- mounts ---------------------------------------------------------------
TRACEFS=none
if mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null && [ -d /sys/kernel/tracing/events ]; then
  TRACEFS=/sys/kernel/tracing
elif mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null && [ -d /sys/kernel/debug/tracing/events ]; then
  TRACEFS=/sys/kernel/debug/tracing
fi
ip link set lo up 2>/dev/null
lo_is_up() { ip link show lo 2>/dev/null | grep -q 'UP'; }
LO_UP=$(bool lo_is_up)
HAS_BTF=$(bool test -r /sys/kernel/btf/vmlinux)
HAS_SYSCALL_TP=$(bool test -d "$TRACEFS/events/syscalls")
HAS_EXIT_TP=$(bool test -d "$TRACEFS/events/sched/sched_process_exit")

# --- calibrate with BTF hidden ------------------------------------------------
# A tmpfs over /sys/kernel/btf: calibration must not be able to read the answer.
BTF_HIDDEN=false
if mount -t tmpfs none /sys/kernel/btf 2>/dev/null && [ ! -e /sys/kernel/btf/vmlinux ]; then
  BTF_HIDDEN=true
fi
# --cache-dir: once calibrate writes its cache entry, it lands in /out/cache and
# the host bundles that real entry.
mkdir -m 0755 /out/cache
CAL_ARGS="--cache-dir /out/cache calibrate --json"
if [ "$FIXTURES" = 1 ]; then
  if $OP calibrate --help 2>&1 | grep -q -- --dump-snapshots; then
    CAL_ARGS="$CAL_ARGS --dump-snapshots /out/snapshots.json"
  else
    echo "calibrate has no --dump-snapshots" >/out/snapshots.err
  fi
fi
T0=$(now)
if [ "$BTF_HIDDEN" = true ]; then
  # shellcheck disable=SC2086
  timeout "$STEP_TIMEOUT" $OP $CAL_ARGS >/out/calibrate.json 2>/out/calibrate.err
  CAL_RC=$?
else
  echo "refusing to calibrate: could not hide /sys/kernel/btf" >/out/calibrate.err
  CAL_RC=-1
fi
T1=$(now)
umount /sys/kernel/btf 2>/dev/null

# --- verify against the kernel's BTF -----------------------------------------
if [ -s /out/calibrate.json ]; then
  timeout "$STEP_TIMEOUT" $OP verify --json --input /out/calibrate.json >/out/verify.json 2>/out/verify.err
  VER_RC=$?
else
  echo "skipped: calibrate produced no output" >/out/verify.err
  VER_RC=-1
fi
T2=$(now)

# --- counting probe smoke test -------------------------------------------------
# `offsetprobe count` is built by another workstream: detect it, never assume.
COUNT_AVAIL=false
COUNT_RC=-1
if $OP --help 2>&1 | grep -qE '^ +count( |$)'; then
  COUNT_AVAIL=true
  # PLACEHOLDER invocation: adapt to the count command's interface when it
  # lands (its --help is kept in count.help for that). It reads the offsets
  # from the cache entry calibrate wrote to /out/cache.
  $OP count --help >/out/count.help 2>&1
  timeout "$STEP_TIMEOUT" $OP --cache-dir /out/cache count --json --smoke "$COUNT_N" >/out/count.json 2>/out/count.err
  COUNT_RC=$?
else
  echo "not available: this offsetprobe has no count command" >/out/count.err
fi
T3=$(now)

# --- ship files on ttyS1, then the result block on the console -------------------
[ -r /sys/kernel/btf/vmlinux ] && gzip -c /sys/kernel/btf/vmlinux >/out/btf.vmlinux.gz
uname -r >/out/release
# The GNU build-id note: the key the cache and the bundle use for a kernel.
cat /sys/kernel/notes >/out/notes 2>/dev/null
if stty -F /dev/ttyS1 raw -echo 2>/dev/null; then
  tar -c -C /out . | gzip -1 >/dev/ttyS1
  DATA=true
else
  DATA=false
fi
T4=$(now)

{
  # A fresh line first: firmware escape sequences may still be on the current one.
  echo
  echo "=====OFFSETPROBE-RESULT-BEGIN====="
  printf '{"schema":"offsetprobe-matrix-guest/v1","release":%s,"kernel_version":%s,"machine":%s,"version":%s,' \
    "$(uname -r | json_str)" "$(uname -v | json_str)" "$(uname -m | json_str)" "$($OP --version 2>&1 | json_str)"
  printf '"env":{"btf":%s,"btf_hidden":%s,"tracefs":%s,"syscall_tracepoints":%s,"sched_process_exit":%s,"lo_up":%s,"nproc":%s,"data_channel":%s},' \
    "$HAS_BTF" "$BTF_HIDDEN" "$(echo "$TRACEFS" | json_str)" "$HAS_SYSCALL_TP" "$HAS_EXIT_TP" "$LO_UP" "$(nproc)" "$DATA"
  printf '"calibrate":{"rc":%s,"seconds":%s,"args":%s,"stderr":%s,"output":' "$CAL_RC" \
    "$(awk -v a="$T0" -v b="$T1" 'BEGIN{print b-a}')" "$(echo "$CAL_ARGS" | json_str)" "$(tail_str /out/calibrate.err)"
  json_file /out/calibrate.json
  printf '},"verify":{"rc":%s,"seconds":%s,"stderr":%s,"output":' "$VER_RC" \
    "$(awk -v a="$T1" -v b="$T2" 'BEGIN{print b-a}')" "$(tail_str /out/verify.err)"
  json_file /out/verify.json
  printf '},"count":{"available":%s,"rc":%s,"seconds":%s,"stderr":%s,"output":' "$COUNT_AVAIL" "$COUNT_RC" \
    "$(awk -v a="$T2" -v b="$T3" 'BEGIN{print b-a}')" "$(tail_str /out/count.err)"
  json_file /out/count.json
  printf '},"uptime":{"init":%s,"done":%s}}\n' "$T_INIT" "$T4"
  echo "=====OFFSETPROBE-RESULT-END====="
} >/dev/console 2>&1
sync
poweroff -f
