#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0-only
# /init of the matrix initramfs (busybox sh, PID 1). Calibrates with BTF
# hidden, verifies with BTF back, and reports to the host on two serial ports:
#   console:         one JSON result block between the markers below;
#   data_tty (raw):  a gzipped tar of /out (the command outputs, stderr, a copy
#                    of /sys/kernel/btf/vmlinux for the host's own BTF oracle,
#                    and with fixtures the raw snapshots). ttyS1 on x86_64;
#                    on arm64 (data_tty=console) the same archive in base64
#                    on the console, between its own markers, before the block.
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
# Per architecture (run.sh): older images have neither line (x86_64).
GETPPID_NR=$(cfg getppid_nr)
GETPPID_NR=${GETPPID_NR:-110}
DATA_TTY=$(cfg data_tty)
DATA_TTY=/dev/${DATA_TTY:-ttyS1}
OP=/bin/offsetprobe

now() { cut -d' ' -f1 /proc/uptime; }
T_INIT=$(now)

# JSON string from stdin (escapes, newlines joined, control characters dropped).
# Character by character, not gsub: what a backslash in gsub's replacement
# means differs between awks, and the arm64 guests' busybox left quotes
# unescaped (count's stderr quoting "-" made the whole result block invalid).
json_str() {
  awk 'BEGIN { ORS = "" ; print "\"" }
       { if (NR > 1) print "\\n"
         n = length($0)
         for (i = 1; i <= n; i++) {
           c = substr($0, i, 1)
           if (c == "\\") print "\\\\"
           else if (c == "\"") print "\\\""
           else if (c == "\t") print "\\t"
           else if (c >= " " || c > "\177") print c
         } }
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

# The host (run.sh, scripts/matrix/console.sh) tells a kernel that panicked
# before this line (in its own boot, or in this script's busybox set-up:
# offsetprobe had not run, a passing reason, booted again) from one that
# panicked after it (reported, never retried). Nothing above runs $OP.
echo "=====OFFSETPROBE-STARTING====="

# --- calibrate with BTF hidden ------------------------------------------------
# A tmpfs over /sys/kernel/btf: calibration must not be able to read the answer.
# (Undone with `umount /sys/kernel/btf` for verify; the bundle's run hides it again.)
hide_btf() { mount -t tmpfs none /sys/kernel/btf 2>/dev/null && [ ! -e /sys/kernel/btf/vmlinux ]; }
BTF_HIDDEN=false
hide_btf && BTF_HIDDEN=true
# --cache-dir: once calibrate writes its cache entry, it lands in /out/cache and
# the host bundles that real entry.
mkdir -m 0755 /out/cache
CAL_ARGS="--cache-dir /out/cache calibrate --json"
# A slower hang detector than calibrate's 10 s when run.sh asks for one: an
# emulated guest on busy host cores can take longer than that for a subject's
# answer (5.10 rt arm64 under TCG at load 25 on 2 cores did).
# --fields from run.sh (a local kernel's truth covers only some structs).
# Both go to the bundle's run below too.
RUN_ARGS=""
SUBJECT_TIMEOUT_MS=$(cfg subject_timeout_ms)
[ -n "$SUBJECT_TIMEOUT_MS" ] && RUN_ARGS="$RUN_ARGS --timeout $SUBJECT_TIMEOUT_MS"
FIELDS=$(cfg fields)
[ -n "$FIELDS" ] && RUN_ARGS="$RUN_ARGS --fields $FIELDS"
CAL_ARGS="$CAL_ARGS$RUN_ARGS"
# The raw trials are always written (to /tmp, outside the archive sent to the
# host): with fixtures they go to /out; without, only when the calibration
# failed, so that a failure seen once (cred's ten fields unresolved on two rt
# builds of the 2026-12-04 amd64 archive, passing on every boot since) can be
# replayed offline (scripts/matrix/fixture.sh makes a fixture of them). A
# wrong offset (verify failing) keeps them too: see after verify.
DUMP_AVAIL=false
if $OP calibrate --help 2>&1 | grep -q -- --dump-snapshots; then
  DUMP_AVAIL=true
  CAL_ARGS="$CAL_ARGS --dump-snapshots /tmp/snapshots.json"
  # The net family's raw trials too (scripts/matrix/fixture.sh).
  export OFFSETPROBE_DUMP_NET_TRIALS=/tmp/net-trials.json
elif [ "$FIXTURES" = 1 ]; then
  echo "calibrate has no --dump-snapshots" >/out/snapshots.err
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
unset OFFSETPROBE_DUMP_NET_TRIALS

# --- verify against the kernel's BTF -----------------------------------------
if [ -s /out/calibrate.json ]; then
  timeout "$STEP_TIMEOUT" $OP verify --json --input /out/calibrate.json >/out/verify.json 2>/out/verify.err
  VER_RC=$?
else
  echo "skipped: calibrate produced no output" >/out/verify.err
  VER_RC=-1
fi
T2=$(now)
# The raw trials go to the host with fixtures, or when the calibration failed
# or an offset differed from BTF.
if [ "$DUMP_AVAIL" = true ] && { [ "$FIXTURES" = 1 ] || [ "$CAL_RC" != 0 ] || [ "$VER_RC" != 0 ]; }; then
  mv /tmp/snapshots.json /out/snapshots.json 2>/dev/null
  mv /tmp/net-trials.json /out/net-trials.json 2>/dev/null
fi
rm -f /tmp/snapshots.json /tmp/net-trials.json

# --- the fleet bundle's path: this kernel's own entry, validated -------------
# `calibrate` on a kernel the shipped bundle holds does not calibrate: it
# reads the bundle's offsets back with the reader, the socket scanner and the
# file walker in their read-back-only modes. A bundle made from the entry the
# cold calibration above wrote is validated here, BTF hidden again, into a
# cache of its own: the host checks that it took that path (source "bundle")
# and reported every field as the cold calibration did. Detected, never
# assumed: an older binary has no bundle command.
BUNDLE_AVAIL=false
BUNDLE_RC=-1
BUNDLE_WHY=""
ENTRY=$(ls /out/cache/*.json 2>/dev/null | head -n 1)
if ! $OP --help 2>&1 | grep -qE '^ +bundle( |$)'; then
  BUNDLE_WHY="not available: this offsetprobe has no bundle command"
elif [ -z "$ENTRY" ]; then
  BUNDLE_WHY="skipped: the cold calibration wrote no cache entry (exit $CAL_RC)"
elif ! $OP bundle create -o /tmp/self.bundle "$ENTRY" >/out/bundle-create.out 2>&1; then
  BUNDLE_AVAIL=true
  BUNDLE_WHY="bundle create failed: $(tail -n 1 /out/bundle-create.out)"
elif ! hide_btf; then
  BUNDLE_AVAIL=true
  BUNDLE_WHY="could not hide /sys/kernel/btf"
else
  BUNDLE_AVAIL=true
  mkdir -m 0755 /tmp/bundle-cache
  BUN_ARGS="--cache-dir /tmp/bundle-cache calibrate --json --bundle /tmp/self.bundle$RUN_ARGS"
  # shellcheck disable=SC2086
  timeout "$STEP_TIMEOUT" $OP $BUN_ARGS >/out/bundled.json 2>/out/bundled.err
  BUNDLE_RC=$?
fi
umount /sys/kernel/btf 2>/dev/null
T2B=$(now)

# --- counting probe smoke test -------------------------------------------------
# A subject (tests/count_subject.c, built static by the host) makes exactly
# COUNT_N getppid calls after a start byte; `count --pid` must report exactly
# COUNT_N under the key {pid, /proc/<pid>/stat field 22}. count takes its
# offsets from the cache entry calibrate wrote to /out/cache (BTF hidden then).
# Detected, never assumed: an older binary has no count command.
COUNT_AVAIL=false
COUNT_RC=-1
COUNT_SUBJ_PID=null
COUNT_STICKS=null
COUNT_PASS=false
COUNT_WHY=""
if $OP --help 2>&1 | grep -qE '^ +count( |$)' && [ -x /bin/count_subject ]; then
  COUNT_AVAIL=true
  rm -f /tmp/go /tmp/subject.out
  mkfifo /tmp/go
  # The subject's stdin is the fifo: its open blocks until fd 3 opens the
  # writing end; "ready" comes once it waits for the start byte, and it exits
  # when fd 3 closes. getppid is 110 on x86_64, 173 on arm64.
  /bin/count_subject "$GETPPID_NR" "$COUNT_N" 0 </tmp/go >/tmp/subject.out 2>&1 &
  COUNT_SUBJ_PID=$!
  # The open blocks until the subject opens its end, and a signal (a
  # background job's SIGCHLD) can interrupt it: a plain `exec` that fails
  # ends this shell, and with it init ("can't create /tmp/go: Interrupted
  # system call" panicked 6.12.90+deb12.1-rt once). `command exec` fails
  # without ending it, and the open is tried again.
  i=0
  until command exec 3>/tmp/go; do
    i=$((i + 1))
    [ "$i" -lt 20 ] || break
    sleep 0.1
  done
  waitfor() { # FILE PATTERN TENTHS
    i=0
    while [ "$i" -lt "$3" ]; do grep -qs "$2" "$1" && return 0; sleep 0.1; i=$((i + 1)); done
    return 1
  }
  if waitfor /tmp/subject.out ready 300; then
    COUNT_STICKS=$(sed 's/.*) //' "/proc/$COUNT_SUBJ_PID/stat" | cut -d' ' -f20)
    $OP --cache-dir /out/cache count --syscall getppid --pid "$COUNT_SUBJ_PID" --json --interval 0.5 \
      --duration "$STEP_TIMEOUT" >/out/count.json 2>/out/count.err &
    CPID=$!
    if waitfor /out/count.err "Ctrl-C stops" 600; then
      echo g >&3
      waitfor /tmp/subject.out "done" 600 || COUNT_WHY="the subject did not finish"
      sleep 1.5 # an interval passes while the subject lives: its key is checked
    else
      COUNT_WHY="count did not start"
    fi
    exec 3>&-
    kill -TERM "$CPID" 2>/dev/null # (a background job of a script ignores SIGINT)
    wait "$CPID"
    COUNT_RC=$?
  else
    exec 3>&-
    COUNT_WHY="the subject did not start"
  fi
  wait "$COUNT_SUBJ_PID" 2>/dev/null
  cat /tmp/subject.out >/out/count_subject.out 2>/dev/null
  # The last JSON object (with "final": true) is the verdict's input; the host
  # re-checks it from count.json too.
  tail -n 1 /out/count.json >/out/count.final.json 2>/dev/null
  if [ -z "$COUNT_WHY" ]; then
    # busybox has no jq: pull this pid's row apart with sed.
    ROW=$(tr -d ' \n' </out/count.final.json | sed 's/},{/}\n{/g' | tr -d '[]' | grep "\"pid\":${COUNT_SUBJ_PID}[,}]")
    GOT=$(echo "$ROW" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
    TICKS=$(echo "$ROW" | sed -n 's/.*"start_ticks":\([0-9]*\).*/\1/p')
    if ! grep -q '"final":true' /out/count.final.json 2>/dev/null && ! tr -d ' \n' </out/count.final.json | grep -q '"final":true'; then
      COUNT_WHY="no final JSON object (count exit $COUNT_RC)"
    elif [ -z "$ROW" ]; then
      COUNT_WHY="pid $COUNT_SUBJ_PID not in the final counts"
    elif [ "$GOT" != "$COUNT_N" ]; then
      COUNT_WHY="counted ${GOT:-nothing}, expected $COUNT_N"
    elif [ "$TICKS" != "$COUNT_STICKS" ]; then
      COUNT_WHY="start_ticks ${TICKS:-none} != /proc/$COUNT_SUBJ_PID/stat field 22 $COUNT_STICKS"
    elif [ "$COUNT_RC" != 143 ] && [ "$COUNT_RC" != 0 ]; then
      COUNT_WHY="count exited $COUNT_RC"
    else
      COUNT_PASS=true
    fi
  fi
elif [ -x /bin/count_subject ]; then
  COUNT_WHY="not available: this offsetprobe has no count command"
else
  COUNT_WHY="not available: no count_subject in the initramfs"
fi
echo "$COUNT_WHY" >/out/count.why
T3=$(now)

# --- ship files on the data tty, then the result block on the console -------------------
[ -r /sys/kernel/btf/vmlinux ] && gzip -c /sys/kernel/btf/vmlinux >/out/btf.vmlinux.gz
uname -r >/out/release
# The GNU build-id note: the key the cache and the bundle use for a kernel.
cat /sys/kernel/notes >/out/notes 2>/dev/null
# The tty stays open (fd 4) from stty to the end of the archive: a virtio
# console (hvc, arm64) resets its termios on the last close, and a cooked
# tty turns the archive's \n bytes into \r\n.
DATA=false
if [ "$DATA_TTY" = /dev/console ]; then
  # -M virt has one UART, and Debian's arm64 kernels before 6.12 build every
  # virtio transport as a module: the console carries the archive, in base64
  # lines the host decodes (run.sh).
  {
    echo
    echo "=====OFFSETPROBE-DATA-BEGIN====="
    tar -c -C /out . | gzip -6 | base64
    echo "=====OFFSETPROBE-DATA-END====="
  } >/dev/console 2>&1 && DATA=true
elif [ -c "$DATA_TTY" ]; then
  exec 4>"$DATA_TTY"
  if stty raw -echo <&4 2>/dev/null || stty -F "$DATA_TTY" raw -echo 2>/dev/null; then
    tar -c -C /out . | gzip -1 >&4
    DATA=true
  fi
  exec 4>&-
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
  printf '},"bundled":{"available":%s,"rc":%s,"seconds":%s,"why":%s,"stderr":%s,"output":' \
    "$BUNDLE_AVAIL" "$BUNDLE_RC" "$(awk -v a="$T2" -v b="$T2B" 'BEGIN{print b-a}')" "$(echo "$BUNDLE_WHY" | json_str)" \
    "$(tail_str /out/bundled.err)"
  json_file /out/bundled.json
  printf '},"count":{"available":%s,"rc":%s,"seconds":%s,"n":%s,"pid":%s,"proc_start_ticks":%s,"pass":%s,"why":%s,"stderr":%s,"output":' \
    "$COUNT_AVAIL" "$COUNT_RC" "$(awk -v a="$T2B" -v b="$T3" 'BEGIN{print b-a}')" "$COUNT_N" "$COUNT_SUBJ_PID" \
    "${COUNT_STICKS:-null}" "$COUNT_PASS" "$(echo "$COUNT_WHY" | json_str)" "$(tail_str /out/count.err)"
  json_file /out/count.final.json
  printf '},"uptime":{"init":%s,"done":%s}}\n' "$T_INIT" "$T4"
  echo "=====OFFSETPROBE-RESULT-END====="
} >/dev/console 2>&1
sync
poweroff -f
