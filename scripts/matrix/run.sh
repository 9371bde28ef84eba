#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The portability matrix: boots real Debian kernel builds under QEMU and checks
# every offset `offsetprobe calibrate` finds (BTF hidden) against the kernel's
# own BTF. See docs/matrix.md.
#
#   scripts/matrix/run.sh [options] [--list NAME] [PACKAGE[/SUITE]...]
#   scripts/matrix/run.sh --arch arm64 [...]   # Debian's arm64 builds (qemu-system-aarch64)
#
# Exit status: 0 when every field on every kernel equals BTF; 1 when any field
# is wrong, ambiguous or missing, or any guest failed; 2 on a usage error or a
# package that does not exist in the configured suites; 3 when set-up failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
  cat <<EOF
usage: $0 [options] [PACKAGE[/SUITE]...]
  PACKAGE          a Debian kernel image package, e.g. linux-image-cloud-amd64/bookworm
                   (meta packages are resolved to the concrete build) or
                   linux-image-6.1.0-50-rt-amd64
  --arch ARCH      amd64 (default) or arm64: the kernels' architecture. arm64
                   boots linux-image-*-arm64 under qemu-system-aarch64 -M virt
                   with a cross-built offsetprobe (scripts/cross/arm64.sh)
  --list NAME      kernels from scripts/matrix/lists/NAME.txt (default: default,
                   or arm64 with --arch arm64). --list all: every kernel image
                   build of the architecture in the five suites, listed from
                   the archive's indexes at run time (the fleet archive)
  --resume         keep the results already in -o DIR: a kernel judged there
                   by the same offsetprobe binary (sha256) is not booted again,
                   unless its failure was a passing one (download, hang, no
                   result), which is tried again
  --fields LIST    what the guest calibrates (calibrate --fields; default all).
                   A local kernel's build-time truth covers only the structs it
                   lists: scripts/randstruct/matrix-kernel-b.sh asks for those
  --retries N      boots of one kernel whose guest failed for a passing reason
                   (hung, printed no result); downloads are tried 3 times
                   (default: 2)
  -j N             kernels booted in parallel (default: number of CPUs)
  -o DIR           results directory (default: ./matrix-results)
  --fixtures DIR   also write solver fixtures (raw trials + BTF offsets,
                   tests/fixtures/README.md) to DIR/<release>-debian.json.gz
  --binary FILE    static offsetprobe to put in the guest (default: build it in
                   ./build-static with -Dstatic_binary=true)
  --timeout S      hard limit per guest in seconds (default: 600)
  --cpu MODEL      QEMU CPU model (default: max; QEMU's default qemu64 lacks
                   cmpxchg16b, which 6.12.95+deb12-cloud-amd64 needs to boot;
                   arm64: max,pauth-impdef=on)
  --refresh        refresh the private apt indexes even if they are recent
  --no-setup       do not apt-get install the host tools
  --kernel-image PATH --truth FILE
                   also boot a local kernel image (repeatable, each image with
                   its truth: "struct__member offset" lines, as
                   scripts/randstruct/build-kernel.sh writes). The judge uses
                   the truth instead of the guest's BTF, which on a randomized
                   layout describes the declared order (docs/randstruct.md)
  --kernel-dir DIR the same for DIR/bzImage with DIR/truth.txt (and DIR/config)
Environment: OFFSETPROBE_MATRIX_CACHE (default ~/.cache/offsetprobe-matrix)
EOF
}

list=""
arch=amd64
jobs=$(nproc)
out=./matrix-results
fixtures=""
binary=""
guest_timeout=600
cpu="" # per architecture below
refresh=0
setup=1
resume=0
retries=2
guest_fields=""
pkgs=()
local_images=() local_truths=()
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=${2:?--list needs a name}; shift 2 ;;
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
    -j) jobs=${2:?-j needs a number}; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    -o) out=${2:?-o needs a directory}; shift 2 ;;
    --fixtures) fixtures=${2:?--fixtures needs a directory}; shift 2 ;;
    --binary) binary=${2:?--binary needs a file}; shift 2 ;;
    --timeout) guest_timeout=${2:?--timeout needs seconds}; shift 2 ;;
    --cpu) cpu=${2:?--cpu needs a model}; shift 2 ;;
    --refresh) refresh=1; shift ;;
    --resume) resume=1; shift ;;
    --fields) guest_fields=${2:?--fields needs a list}; shift 2 ;;
    --retries) retries=${2:?--retries needs a number}; shift 2 ;;
    --no-setup) setup=0; shift ;;
    --kernel-image) local_images+=("${2:?--kernel-image needs a file}"); shift 2 ;;
    --truth) local_truths+=("${2:?--truth needs a file}"); shift 2 ;;
    --kernel-dir) local_images+=("${2:?--kernel-dir needs a directory}/bzImage")
                  local_truths+=("$2/truth.txt"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "matrix: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) pkgs+=("$1"); shift ;;
  esac
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "matrix: -j wants a positive number, got '$jobs'" >&2; exit 2; }
[[ $retries =~ ^[1-9][0-9]*$ ]] || { echo "matrix: --retries wants a positive number, got '$retries'" >&2; exit 2; }
[[ $guest_timeout =~ ^[1-9][0-9]*$ ]] || { echo "matrix: --timeout wants seconds, got '$guest_timeout'" >&2; exit 2; }
[ "${#local_images[@]}" -eq "${#local_truths[@]}" ] \
  || { echo "matrix: every --kernel-image needs its --truth" >&2; exit 2; }
for i in "${!local_images[@]}"; do
  [ -r "${local_images[$i]}" ] || { echo "matrix: no kernel image ${local_images[$i]}" >&2; exit 2; }
  grep -qE '^task_struct__pid [0-9]+$' "${local_truths[$i]}" 2>/dev/null \
    || { echo "matrix: ${local_truths[$i]} is no truth file (task_struct__pid missing)" >&2; exit 2; }
done
case $arch in amd64|arm64) ;; *) echo "matrix: --arch wants amd64 or arm64, got '$arch'" >&2; exit 2 ;; esac
if [ -z "$list" ] && [ "${#pkgs[@]}" -eq 0 ] && [ "${#local_images[@]}" -eq 0 ]; then
  if [ "$arch" = amd64 ]; then list=default; else list=$arch; fi
fi

# --- what differs per architecture (everything else is shared) ---------------
# qemu_args: the machine; console/data_tty: the guest's console and the raw
# channel the guest ships its files on; getppid_nr: the count smoke test's
# syscall (x86_64's table vs the generic one, counting/syscall_table_*.inc);
# arch_config: what the guest needs built in besides required_config below.
case $arch in
  amd64)
    qemu_pkg=qemu-system-x86; qemu_bin=qemu-system-x86_64
    cpu=${cpu:-max}
    qemu_args=(-accel tcg) # -cpu per attempt (run_one: attempt_cpu)
    console=ttyS0; data_tty=ttyS1; getppid_nr=110
    arch_config=(CONFIG_SERIAL_8250 CONFIG_SERIAL_8250_CONSOLE)
    ;;
  arm64)
    # -M virt has one PL011 UART, and Debian's arm64 kernels before 6.12
    # build virtio-pci and virtio-console as modules: the files come in
    # base64 on the console (guest-init.sh), decoded into data.tar.gz below.
    # gic-version=max: the newest GIC the CPU model supports.
    # pauth-impdef=on: the CPU keeps pointer authentication (Debian's arm64
    # kernels sign return addresses with it) but TCG computes the signatures
    # with a cheap implementation-defined function instead of QARMA, which
    # otherwise dominates the emulation time.
    qemu_pkg=qemu-system-arm; qemu_bin=qemu-system-aarch64
    cpu=${cpu:-max,pauth-impdef=on}
    qemu_args=(-accel tcg -M virt,gic-version=max) # -cpu per attempt
    console=ttyAMA0; data_tty=console; getppid_nr=173
    arch_config=(CONFIG_SERIAL_AMBA_PL011 CONFIG_SERIAL_AMBA_PL011_CONSOLE)
    ;;
esac

log() { echo "matrix: $*" >&2; }
die() { echo "matrix: $1" >&2; exit "${2:-3}"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_start=$(now)

# --- host tools ---------------------------------------------------------------
if [ "$setup" = 1 ]; then
  need=("$qemu_pkg" busybox-static $(if [ "$arch" = arm64 ]; then echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross; fi) debian-archive-keyring jq bpftool gzip xz-utils
        meson ninja-build gcc libc6-dev libbpf-dev libelf-dev zlib1g-dev libzstd-dev libboost-filesystem-dev)
  missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "could not install ${missing[*]}"
  fi
fi
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox-static is needed (apt-get install busybox-static)"
command -v "$qemu_bin" >/dev/null || die "$qemu_bin is needed (apt-get install $qemu_pkg)"
command -v jq >/dev/null || die "jq is needed"

# --- private apt (apt-private.sh: indexes of $arch, resolve) -------------------
# shellcheck source=apt-private.sh
. "$here/apt-private.sh"

# --- what to run ------------------------------------------------------------------
if [ "$list" = all ]; then
  # Every concrete build (linux-image-<abi>-[<flavour>-]<arch>[-16k]) of the
  # indexes, at its newest version (a package name is one ABI: a second
  # version of it is a rebuild, and results are kept per package), in the
  # first suite that has that version. -unsigned is the same build as its
  # signed twin (one build id); -dbg holds no image; meta packages
  # (linux-image-amd64, linux-image-6.12-amd64: no full version in the name)
  # only point at a concrete build (scripts/matrix/lists.sh counts them all).
  while read -r p; do
    while IFS='|' read -r _ v rest; do
      v=${v// /}
      s=$(awk '{ split($2, b, "/"); print b[1] }' <<<"$rest")
      printf '%s %s %s\n' "$p" "$v" "$s"
    done < <(apt_cache madison "$p" 2>/dev/null)
  done < <(apt_cache pkgnames linux-image- 2>/dev/null | grep -E -- "^linux-image-[0-9]+\.[0-9]+\.[0-9]+[^ ]*-$arch(-16k)?\$" | sort -V) \
    | awk '!seen[$1]++' >"$A/list-all.txt"
  [ -s "$A/list-all.txt" ] || die "no linux-image-*-$arch build in the indexes of ${suites[*]}"
  while read -r p v s; do pkgs+=("$p/$s"); done <"$A/list-all.txt"
  log "--list all: $(wc -l <"$A/list-all.txt") $arch builds in the indexes of ${suites[*]}"
elif [ -n "$list" ]; then
  lf=$here/lists/$list.txt
  [ -r "$lf" ] || die "no list '$list' (have: $(cd "$here/lists" && ls | sed 's/\.txt$//' | tr '\n' ' '))" 2
  while read -r line; do
    line=${line%%#*}
    # shellcheck disable=SC2086
    set -- $line
    [ $# -eq 0 ] && continue
    if [ $# -eq 2 ]; then pkgs+=("$2/$1"); else pkgs+=("$1"); fi
  done <"$lf"
fi

declare -a kernels=()  # "request concrete suite version"
declare -A seen_build=()
bad=0
for r in "${pkgs[@]}"; do
  if res=$(resolve "$r"); then
    # Two requests for one build (a meta package and its build) boot it once:
    # results are kept per build, and two guests must not share a directory.
    if [ -n "${seen_build[${res%% *}]:-}" ]; then
      log "$r is ${res%% *}, already listed as ${seen_build[${res%% *}]}: booted once"
      continue
    fi
    seen_build[${res%% *}]=$r
    kernels+=("$r $res")
  else
    echo "matrix: $r: $res" >&2
    bad=1
  fi
done
if [ "$bad" = 1 ]; then
  die "unknown kernel package(s): give linux-image-{$arch,cloud-$arch,rt-$arch}/SUITE or a concrete build such as $(apt_cache pkgnames linux-image-6 2>/dev/null | grep -E -- "-cloud-$arch\$" | sort -V | tail -n1)" 2
fi
# Local images: "local:<index> <name> local -" (no package, no download).
for i in "${!local_images[@]}"; do
  d=$(dirname "${local_images[$i]}")
  kernels+=("local:$i $(basename "$d")-$(basename "${local_images[$i]}") local -")
done
[ "${#kernels[@]}" -gt 0 ] || die "nothing to run" 2

# --- the guest image -------------------------------------------------------------------
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/summary.md" "$out/summary.json" "$out/bundle.json"
[ "$resume" = 1 ] || rm -rf "$out/kernels"
mkdir -p "$out/kernels"
if [ -z "$binary" ] && [ "$arch" = arm64 ]; then
  t=$(now)
  cross_args=(); [ "$setup" = 1 ] || cross_args=(--no-setup)
  binary=$("$repo/scripts/cross/arm64.sh" "${cross_args[@]}" 2>"$out/build-arm64.log") \
    || { cat "$out/build-arm64.log" >&2; die "cross build of the arm64 offsetprobe failed"; }
  log "static arm64 offsetprobe built in $(elapsed "$t") s"
fi
if [ -z "$binary" ]; then
  t=$(now)
  if [ ! -f "$repo/build-static/build.ninja" ]; then
    meson setup "$repo/build-static" "$repo" -Dstatic_binary=true -Dbcc=disabled -Dtests=false \
      >"$out/build-static.log" 2>&1 || { cat "$out/build-static.log" >&2; die "meson setup of the static build failed"; }
  fi
  ninja -C "$repo/build-static" >>"$out/build-static.log" 2>&1 \
    || { tail -n 40 "$out/build-static.log" >&2; die "static build failed"; }
  binary=$repo/build-static/offsetprobe/offsetprobe
  log "static offsetprobe built in $(elapsed "$t") s"
fi
[ -x "$binary" ] || die "no executable offsetprobe at $binary"
file -L "$binary" | grep -q 'statically linked' || die "$binary is not statically linked (the guest has no libraries)"
file -L "$binary" | grep -q "$([ "$arch" = arm64 ] && echo 'ARM aarch64' || echo 'x86-64')" \
  || die "$binary is not an $arch executable: $(file -L "$binary")"
# The counting probe's smoke-test subject: exactly N getppid calls on a start byte.
target_cc=gcc
[ "$arch" = arm64 ] && target_cc=aarch64-linux-gnu-gcc
"$target_cc" -static -O2 -pthread -o "$out/count_subject" "$repo/tests/count_subject.c" 2>"$out/count_subject.log" \
  || { cat "$out/count_subject.log" >&2; die "could not build tests/count_subject.c statically with $target_cc"; }
count_n=1000
# arm64: busybox-static of the same architecture, from the private apt.
if [ "$arch" != amd64 ]; then
  bbv=$(apt_cache policy busybox-static | sed -n 's/^ *Candidate: //p')
  bbdir=$cache/busybox-$arch-${bbv/:/%3a}
  if [ ! -e "$bbdir/.done" ]; then
    rm -rf "$bbdir"; mkdir -p "$bbdir/root"
    (cd "$bbdir" && apt_get -q download "busybox-static=$bbv" >download.log 2>&1) \
      && dpkg-deb -x "$bbdir"/busybox-static_*.deb "$bbdir/root" && touch "$bbdir/.done" \
      || die "could not fetch busybox-static ($arch, $bbv)"
  fi
  # /bin/busybox before trixie, /usr/bin/busybox since (merged /usr)
  for busybox in "$bbdir"/root/bin/busybox "$bbdir"/root/usr/bin/busybox; do [ -f "$busybox" ] && break; done
  file -L "$busybox" | grep -q 'ARM aarch64' || die "$busybox is not an arm64 executable"
fi

ird=$out/initramfs
rm -rf "$ird.d"
mkdir -p "$ird.d"/{bin,sbin,proc,sys,dev,tmp,out,run,etc}
cp "$busybox" "$ird.d/bin/busybox"
cp "$binary" "$ird.d/bin/offsetprobe"
cp "$out/count_subject" "$ird.d/bin/count_subject"
cp "$here/guest-init.sh" "$ird.d/init"
chmod 0755 "$ird.d/init" "$ird.d/bin/busybox" "$ird.d/bin/offsetprobe" "$ird.d/bin/count_subject"
# subject_timeout_ms: calibrate's hang detector (default 10 s) is too tight
# for an emulated guest on crowded host cores (guest-init.sh).
printf 'fixtures=%s\nstep_timeout=%s\ncount_n=%s\ngetppid_nr=%s\ndata_tty=%s\nsubject_timeout_ms=%s\nfields=%s\n' \
  "$([ -n "$fixtures" ] && echo 1 || echo 0)" $((guest_timeout / 3)) "$count_n" "$getppid_nr" "$data_tty" 60000 \
  "$guest_fields" >"$ird.d/matrix.conf"
# The host's busybox writes the archive (the arm64 one does not run here).
host_busybox=$(command -v busybox || echo /bin/busybox)
(cd "$ird.d" && find . | LC_ALL=C sort | "$host_busybox" cpio -o -H newc 2>/dev/null | gzip -6) >"$ird.cpio.gz"
rm -rf "$ird.d"
# The commands the binary has. A cross-built one cannot run here: the native
# build of the same tree stands in for it (both come from this checkout).
probe_binary=$binary
[ "$arch" = amd64 ] || probe_binary=${OFFSETPROBE_MATRIX_NATIVE:-$repo/build/offsetprobe/offsetprobe}
has_cmd() { "$probe_binary" --help 2>&1 | grep -qE "^ +$1( |$)"; }
count_expected=false
has_cmd count && count_expected=true
bundle_expected=false
has_cmd bundle && bundle_expected=true

# Things the guest needs from a kernel with no modules loaded.
required_config=(CONFIG_BPF_SYSCALL CONFIG_BPF_EVENTS CONFIG_TRACEPOINTS CONFIG_FTRACE_SYSCALLS
  CONFIG_DEBUG_INFO_BTF CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_DEVTMPFS CONFIG_TMPFS
  CONFIG_UPROBE_EVENTS "${arch_config[@]}")

# gnu_build_id NOTES: the hex GNU build id in an ELF notes blob (/sys/kernel/notes).
gnu_build_id() {
  od -An -v -tx1 "$1" | tr -s ' \n' '\n\n' | grep . | awk '
    # mawk has no strtonum.
    function hex(h,    v, k) { v = 0; for (k = 1; k <= length(h); k++) v = v * 16 + index("0123456789abcdef", substr(h, k, 1)) - 1; return v }
    function u32(i) { return hex(b[i+3] b[i+2] b[i+1] b[i]) }
    { b[n++] = $1 }
    END {
      i = 0
      while (i + 12 <= n) {
        ns = u32(i); ds = u32(i + 4); t = u32(i + 8)
        nm = ""; for (j = 0; j < ns - 1; j++) nm = nm sprintf("%c", hex(b[i + 12 + j]))
        d = i + 12 + int((ns + 3) / 4) * 4
        if (t == 3 && nm == "GNU") { s = ""; for (j = 0; j < ds; j++) s = s b[d + j]; print s; exit }
        i = d + int((ds + 3) / 4) * 4
      }
    }'
}

# --- one kernel ---------------------------------------------------------------------------
binary_sha=$(sha256sum "$binary" | cut -d' ' -f1)
# transient_re, is_transient and console_failure: what a guest's console says.
. "$here/console.sh"

run_one() {
  local req=$1 pkg=$2
  local release=${pkg#linux-image-}; release=${release%-unsigned}
  local kd=$out/kernels/$release attempt=1 why=() f
  if [ "$resume" = 1 ] && [ -s "$kd/result.json" ] \
     && [ "$(jq -r '.binary_sha256 // ""' "$kd/result.json" 2>/dev/null)" = "$binary_sha" ] \
     && ! is_transient "$(jq -r '.failure' "$kd/result.json")"; then
    log "$release: already judged by this binary ($(jq -r .verdict "$kd/result.json")), not booted again"
    return 0
  fi
  # The CPU model of each attempt (recorded in result.json). After QEMU's
  # own double fault (console.sh: tcg_double_fault) an x86 guest is booted
  # again without 5-level paging. 6.12.95+deb12-cloud-amd64 on 2026-12-03:
  # 5 of 11 boots with -cpu max failed (3 such double faults, 2 with init
  # killed by SIGSEGV), none of 10 with max,-la57.
  # The first attempt keeps LA57, whose kernel addresses the socket
  # scanner's pointer bound once missed (docs/net-family.md).
  local attempt_cpu=$cpu # run_attempt's -cpu (bash scoping: its caller's local)
  while :; do
    run_attempt "$@"
    f=$(jq -r '.failure // ""' "$kd/result.json" 2>/dev/null || echo "no result.json")
    if [ "$attempt" -lt "$retries" ] && is_transient "$f"; then
      why+=("$f")
      if [ "$arch" = amd64 ] && is_emulator_fault "$f" && [[ $attempt_cpu != *-la57* ]]; then
        attempt_cpu="$attempt_cpu,-la57"
      fi
      log "$release: attempt $attempt failed for a passing reason ($f); trying again (-cpu $attempt_cpu)"
      attempt=$((attempt + 1))
      continue
    fi
    break
  done
  local tmp
  tmp=$(jq --arg sha "$binary_sha" --argjson attempts "$attempt" \
          --argjson retried "$(printf '%s\n' "${why[@]}" | jq -R . | jq -s 'map(select(. != ""))')" \
          '. + {binary_sha256: $sha, attempts: $attempts, retried_because: $retried}' "$kd/result.json") \
    && printf '%s\n' "$tmp" >"$kd/result.json"
}

run_attempt() {
  local req=$1 pkg=$2 suite=$3 ver=$4
  local release=${pkg#linux-image-}; release=${release%-unsigned}
  local flavour local_truth=""
  case $release in
    *-rt-"$arch") flavour=rt ;; *-cloud-"$arch") flavour=cloud ;; *-"$arch") flavour=generic ;;
    *-"$arch"-16k) flavour=16k ;; *) flavour=other ;;
  esac
  case $req in local:*) flavour=local; local_truth=${local_truths[${req#local:}]} ;; esac
  local kd=$out/kernels/$release
  rm -rf "$kd" # a retried attempt starts clean
  mkdir -p "$kd"
  local failure="" t deb dl_s=0 dl_bytes=0 dl_cached=true boot_s=0 qrc=0 timed_out=false

  # download (cached); a local image has nothing to download
  if [ -n "$local_truth" ]; then
    deb=local
  else
    deb=$(ls "$cache/debs/${pkg}_${ver/:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
  fi
  if [ -z "$deb" ]; then
    dl_cached=false
    t=$(now)
    local try
    for try in 1 2 3; do
      if (cd "$cache/debs" && apt_get -q download "$pkg=$ver" >"$kd/download.log" 2>&1); then
        dl_s=$(elapsed "$t")
        deb=$(ls "$cache/debs/${pkg}_${ver/:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
        break
      fi
      sleep $((try * 5))
    done
    [ -n "$deb" ] || failure="download failed: $(tail -n 3 "$kd/download.log" | tr '\n' ' ')"
  fi
  [ -n "$deb" ] && [ -z "$local_truth" ] && dl_bytes=$(stat -c %s "$deb")

  # unpack /boot only (the modules are hundreds of MB and the guest loads none)
  local kdir=$cache/kernels/${pkg}_$ver vmlinuz="" config=""
  if [ -n "$local_truth" ]; then
    vmlinuz=${local_images[${req#local:}]}
    config=$(dirname "$vmlinuz")/config
    [ -r "$config" ] || config=""
  elif [ -z "$failure" ]; then
    if [ ! -e "$kdir/.done" ]; then
      rm -rf "$kdir"; mkdir -p "$kdir"
      dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './boot/*' 2>"$kd/unpack.log" \
        && touch "$kdir/.done" || failure="dpkg-deb could not unpack $deb"
    fi
    vmlinuz=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
    config=$(ls "$kdir"/boot/config-* 2>/dev/null | head -n1 || true)
    [ -n "$failure" ] || [ -n "$vmlinuz" ] || failure="no /boot/vmlinuz-* in $pkg"
  fi

  # config: what is built in, what is a module (not loadable here), what is off
  local cfg_json="{}" needs_module=""
  if [ -n "$config" ]; then
    local c v
    cfg_json=$(for c in "${required_config[@]}"; do
        v=$(sed -n "s/^$c=//p" "$config"); echo "$c ${v:-n}"
      done | jq -R -n '[inputs | split(" ") | {(.[0]): .[1]}] | add')
    for c in "${required_config[@]}"; do
      v=$(sed -n "s/^$c=//p" "$config")
      [ "$v" = y ] || needs_module="$needs_module $c=${v:-n}"
    done
  fi

  # boot. noirqdebug: PREEMPT_RT kernels (threaded IRQs) otherwise decide the
  # emulated UART's interrupt is spurious while ttyS1 streams data, print
  # "Disabling IRQ #3" and the guest's write to ttyS1 never completes.
  # no_timer_check (x86): a TCG guest starved of host CPU fails the IO-APIC
  # timer check and panics ("IO-APIC + timer doesn't work", seen at load ~11
  # on 6.1.0-48); the check proves nothing about offsetprobe or the kernel's
  # layout.
  local cmdline="console=$console panic=-1 quiet noirqdebug"
  [ "$arch" = amd64 ] && cmdline="$cmdline no_timer_check"
  if [ -z "$failure" ]; then
    t=$(now)
    set +e
    local data_args=(-serial "file:$kd/data.tar.gz")
    [ "$data_tty" = console ] && data_args=()
    timeout -k 10 "$guest_timeout" "$qemu_bin" "${qemu_args[@]}" -cpu "$attempt_cpu" -m 1024 -smp 1 -nographic -no-reboot \
      -net none -monitor none -kernel "$vmlinuz" -initrd "$ird.cpio.gz" \
      -append "$cmdline" \
      -serial "file:$kd/console.log" "${data_args[@]}" >"$kd/qemu.log" 2>&1 </dev/null
    qrc=$?
    set -e
    boot_s=$(elapsed "$t")
    if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then timed_out=true; fi
  fi

  # collect: the result block, even from a guest that panicked or hung
  local guest=null
  if [ -s "$kd/console.log" ]; then
    tr -d '\r' <"$kd/console.log" | sed -n '/=====OFFSETPROBE-RESULT-BEGIN=====$/,/^=====OFFSETPROBE-RESULT-END=====$/p' \
      | sed '1d;$d' >"$kd/guest.json"
    if [ -s "$kd/guest.json" ] && jq -e . "$kd/guest.json" >/dev/null 2>&1; then
      guest=$(jq -c . "$kd/guest.json")
    elif [ -z "$failure" ]; then
      failure=$(console_failure "$kd/console.log" "$kd/guest.json" "$timed_out" "$guest_timeout" "$qrc")
    fi
  elif [ -z "$failure" ]; then
    failure="no console output (qemu exit $qrc: $(tail -n 2 "$kd/qemu.log" | tr '\n' ' '))"
  fi
  if [ "$data_tty" = console ] && [ -s "$kd/console.log" ]; then
    tr -d '\r' <"$kd/console.log" | sed -n '/=====OFFSETPROBE-DATA-BEGIN=====$/,/^=====OFFSETPROBE-DATA-END=====$/p' \
      | sed '1d;$d' | base64 -d >"$kd/data.tar.gz" 2>/dev/null || true
  fi
  if [ -s "$kd/data.tar.gz" ]; then
    mkdir -p "$kd/guest-files"
    tar -xzf "$kd/data.tar.gz" -C "$kd/guest-files" 2>/dev/null || true
  fi

  # our own BTF oracle, independent of `offsetprobe verify`: every struct the
  # calibration reports fields of
  local truth=null structs
  structs=$(jq -r '[.calibrate.output.fields[]?.struct] + ["task_struct"] | unique | .[]' \
    <<<"$guest" 2>/dev/null || echo task_struct)
  if [ -s "$kd/guest-files/btf.vmlinux.gz" ] && gunzip -c "$kd/guest-files/btf.vmlinux.gz" >"$kd/btf.vmlinux"; then
    # shellcheck disable=SC2086
    truth=$("$here/btf-truth.sh" "$kd/btf.vmlinux" $structs 2>"$kd/btf-truth.err" || echo null)
    jq -e .task_struct.members.pid <<<"$truth" >/dev/null 2>&1 || truth=null
  fi
  rm -f "$kd/btf.vmlinux"
  # A local kernel's build-time truth replaces its BTF (a randomized layout's
  # BTF describes the declared order): the same shape as btf-truth.sh's.
  if [ -n "$local_truth" ]; then
    truth=$(awk '{ k = $1; i = index(k, "__"); s = substr(k, 1, i - 1); m = substr(k, i + 2)
                   if (m == "ns_inum") m = "ns.inum"
                   print s, m, $2 }' "$local_truth" | jq -R -n '
      reduce (inputs | split(" ")) as [$s, $m, $o] ({};
        if $m == "SIZE" then .[$s].size = ($o | tonumber)
        else .[$s].members[$m] = ($o | tonumber) end)')
  fi
  # A file, not an argument: the nested members of eleven structs are ~40 KB.
  printf '%s\n' "$truth" >"$kd/btf-truth.json"
  printf '%s\n' "$guest" >"$kd/guest-block.json"
  local build_id=""
  [ -s "$kd/guest-files/notes" ] && build_id=$(gnu_build_id "$kd/guest-files/notes")

  jq -n --arg req "$req" --arg pkg "$pkg" --arg suite "$suite" --arg ver "$ver" \
    --arg release "$release" --arg flavour "$flavour" --arg failure "$failure" \
    --argjson dl_bytes "$dl_bytes" --argjson dl_s "$dl_s" --argjson dl_cached "$dl_cached" --argjson boot_s "$boot_s" \
    --argjson qrc "$qrc" --argjson timed_out "$timed_out" --argjson config "$cfg_json" \
    --arg needs_module "${needs_module# }" --slurpfile guest_file "$kd/guest-block.json" --slurpfile truth_file "$kd/btf-truth.json" \
    --arg build_id "$build_id" --arg cpu "$attempt_cpu" --argjson count_expected "$count_expected" \
    --argjson bundle_expected "$bundle_expected" \
    --arg truth_source "$([ -n "$local_truth" ] && echo "build:$local_truth" || echo btf)" \
    --argjson count_n "$count_n" --arg calibrated_at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -f "$here/judge.jq" >"$kd/result.json"

  # fixtures: raw snapshots + BTF truth, compressed, for offline replay tests
  if [ -n "$fixtures" ] && [ "$guest" != null ]; then
    mkdir -p "$fixtures"
    # A local kernel's fixture carries its build-time truth (fixture.sh).
    "$here/fixture.sh" "$kd" "$fixtures/$release-$([ -n "$local_truth" ] && echo local || echo debian).json.gz" ||
      log "$release: could not write the fixture"
  elif [ "$guest" != null ] && [ -s "$kd/guest-files/snapshots.json" ] &&
    [ "$(jq -r .verdict "$kd/result.json")" != pass ]; then
    # A failed calibration's raw trials (guest-init.sh sends them then):
    # a fixture beside its result, to replay what went wrong.
    "$here/fixture.sh" "$kd" "$kd/fixture.json.gz" >/dev/null 2>&1 &&
      log "$release: its raw trials are in $kd/fixture.json.gz"
  fi

  local v
  v=$(jq -r '.verdict + (if .failure != "" then ": " + .failure else "" end)' "$kd/result.json")
  log "$release ($flavour, $suite): $v [boot+run ${boot_s}s]"
}

# --- run, in parallel -------------------------------------------------------------------------
log "${#kernels[@]} $arch kernel(s), $jobs at a time, results in $out"
printf '%s\n' "${kernels[@]}" >"$out/kernels.txt"
running=0
for k in "${kernels[@]}"; do
  # shellcheck disable=SC2086
  # A runner bug must not lose the kernel: report.sh lists it as a runner failure.
  run_one $k &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

# --- report ------------------------------------------------------------------------------------
bundle_tool=""
has_cmd bundle && bundle_tool=$probe_binary # the host's build for arm64: bundles are plain JSON
"$here/report.sh" "$out" "$(elapsed "$t_start")" "$bundle_tool"
