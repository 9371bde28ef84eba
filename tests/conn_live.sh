#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   conn_live: `offsetprobe conn` against a workload of known connections
# RUN    conn --json (offsets from a private cache: the first run calibrates
#        the net family); tests/conn_workload in a second network namespace
#        (unshare -n): a client and a server process, connections over
#        127.0.0.1 and ::1, short ones and long ones (held HOLD_MS), random
#        sizes; each side prints its 4-tuple, pid, start ticks, namespace
#        inode and its final TCP_INFO (taken once the socket is in CLOSE).
# EXPECT for every socket of the workload, one close record whose 4-tuple,
#        family, namespace inode, owner pid and start ticks equal the
#        workload's; bytes_received equal to the bytes the peer sent + 1
#        (the FIN) and to tcpi_bytes_received; segs_in, segs_out equal to
#        TCP_INFO's; rtt_us (srtt_us >> 3) equal to tcpi_rtt; bytes_acked
#        equal to TCP_INFO's; total_retrans equal to TCP_INFO's;
#        the long connections last at least HOLD_MS; every record agrees
#        with the tracepoint's own record (check ok, 0 mismatches);
#        SIGINT -> 130 with a final summary, SIGTERM -> 143, --duration -> 0,
#        SIGKILL leaves no BPF object,
#        --pid keeps other processes' connections out; every BPF object a
#        conn run held is gone after it.
#        BACKEND bcc: every conn run above is `conn --backend bcc`, and a
#        libbpf conn watches the first workload at the same time: both report
#        the same open and close records (4-tuple, netns, owner, byte and
#        segment counts, rtt, check), field for field; without
#        offsetprobe-bcc beside it, exit 1 (no BCC backend), with a
#        --kernel-headers that is no header tree, exit 13.
# Skips (exit 77, typed reason) without root, BPF, bpftool, jq or unshare
# -n (bcc: without offsetprobe-bcc or kernel headers); fails instead when
# CI=true. Usage: conn_live.sh OFFSETPROBE WORKLOAD [libbpf|bcc]
set -uo pipefail
bin=$(readlink -f "$1") workload=$(readlink -f "$2") backend=${3:-libbpf}
tmp=$(mktemp -d)
cleanup() {
  [[ -n ${cpid:-} ]] && kill "$cpid" 2>/dev/null
  [[ -n ${rpid:-} ]] && kill "$rpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib_live.sh"
export OFFSETPROBE_CACHE_DIR=$tmp/cache
held=""
hold_ms=1200
bargs=(--backend "$backend")

"$bin" conn --interval 0 >/dev/null 2>&1; rc=$?
[[ $rc -eq 2 ]] && ok "usage error: exit 2" || fail "--interval 0: exit $rc, want 2"

if [[ $backend == bcc ]]; then
  # Without BCC, as count --backend bcc: exit 1 and why (offsetprobe alone,
  # no offsetprobe-bcc beside it), or exit 13 without headers.
  mkdir "$tmp/alone" && cp "$bin" "$tmp/alone/"
  "$tmp/alone/offsetprobe" conn --backend bcc >/dev/null 2>"$tmp/alone.err"; rc=$?
  [[ $rc -eq 1 ]] && grep -q "this build has no BCC backend" "$tmp/alone.err" &&
    ok "no offsetprobe-bcc: exit 1, this build has no BCC backend" ||
    fail "no offsetprobe-bcc: exit $rc" "$tmp/alone.err"
  if [[ -x $(dirname "$bin")/offsetprobe-bcc ]]; then
    "$bin" conn --backend bcc --kernel-headers "$tmp/alone" >/dev/null 2>"$tmp/alone.err"; rc=$?
    [[ $rc -eq 13 ]] && ok "--kernel-headers not a header tree: exit 13" ||
      fail "--kernel-headers not a header tree: exit $rc, want 13" "$tmp/alone.err"
  fi
fi

need_live
command -v unshare >/dev/null || skip "no-unshare: util-linux missing"
unshare -n true 2>/dev/null || skip "no-netns: unshare -n refused (the workload needs its own network namespace)"
[[ -r /sys/kernel/tracing/events/sock/inet_sock_set_state/format ||
   -r /sys/kernel/debug/tracing/events/sock/inet_sock_set_state/format ]] ||
  skip "no-tracefs: events/sock/inet_sock_set_state/format is not readable"

[[ $backend == bcc && ! -x $(dirname "$bin")/offsetprobe-bcc ]] &&
  skip "no-bcc: offsetprobe-bcc not built (-Dbcc=disabled or no libbcc)"

# launch NAME ARGS...: conn --json ARGS in the background (stdout in
# $tmp/NAME, stderr in $tmp/NAME.err), until it watches; its pid in $lpid.
launch() {
  local name=$1 rc
  shift
  rm -f "$tmp/$name" "$tmp/$name.err"
  "$bin" conn --json --interval 0.5 "$@" >"$tmp/$name" 2>"$tmp/$name.err" &
  lpid=$!
  for _ in $(seq 900); do # the first run calibrates into the private cache
    if grep -qs "Ctrl-C stops" "$tmp/$name.err"; then
      held+=$'\n'$(bpf_ids "$lpid")
      return 0
    fi
    kill -0 "$lpid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$lpid"
  rc=$?
  [[ $rc -eq 13 ]] && skip "no-headers: conn $*: $(tail -2 "$tmp/$name.err")"
  fail "conn $* did not start (exit $rc)" "$tmp/$name.err"
  finish
}
# start_conn ARGS...: conn --backend BACKEND ARGS (stdout in $tmp/out).
start_conn() {
  launch out "${bargs[@]}" "$@"
  cpid=$lpid
}

# same_as_libbpf NETNS: the libbpf reference run ($rpid) is stopped; its
# records of the workload's namespace and $tmp/out's are the same, field for
# field. Not duration_s (each program times from its own first hit), nor
# owner_check (each process looks at /proc when it reads the record: the
# owner may have exited in between).
same_as_libbpf() {
  local rc sel='[.[] | select((.type == "open" or .type == "close") and .netns == $ns)
    | del(.duration_s, .owner_check)] | sort_by(.type, .family, .local, .lport, .remote, .rport)'
  kill -INT "$rpid"; wait "$rpid"; rc=$?; rpid=
  [[ $rc -eq 130 ]] || fail "the libbpf reference: exit $rc, want 130" "$tmp/ref.err"
  jq -s -c --argjson ns "$1" "$sel" "$tmp/ref" >"$tmp/ref.recs"
  jq -s -c --argjson ns "$1" "$sel" "$tmp/out" >"$tmp/out.recs"
  if [[ $(jq length "$tmp/ref.recs") -eq 0 ]]; then
    fail "the libbpf reference saw no record in namespace $1"
  elif cmp -s "$tmp/ref.recs" "$tmp/out.recs"; then
    ok "bcc and libbpf: the same $(jq length "$tmp/out.recs") open and close records, field for field"
  else
    diff <(jq -c '.[]' "$tmp/ref.recs") <(jq -c '.[]' "$tmp/out.recs") >"$tmp/recs.diff"
    fail "bcc and libbpf disagree (< libbpf, > bcc):" "$tmp/recs.diff"
  fi
}

start_conn --duration 600
if [[ $backend == bcc ]]; then
  launch ref --duration 600 # the libbpf reference, on the same workload
  rpid=$lpid
fi
seed=$((RANDOM * 32768 + RANDOM))
if ! unshare -n "$workload" "$seed" 3 "$hold_ms" >"$tmp/wl" 2>"$tmp/wl.err"; then
  fail "the workload failed (seed $seed)" "$tmp/wl.err"
  finish
fi
nsocks=$(grep -c '^sock ' "$tmp/wl")
[[ $nsocks -eq 12 ]] || fail "the workload printed $nsocks sockets, want 12" "$tmp/wl"
netns=$(awk '/^sock /{ print $5; exit }' "$tmp/wl")
# Every socket's close record (the last close comes after the workload has
# printed it; allow 20 s on a loaded machine).
for _ in $(seq 200); do
  n=$(jq -s --argjson ns "$netns" '[.[] | select(.type == "close" and .netns == $ns)] | length' \
    "$tmp/out" 2>/dev/null)
  [[ ${n:-0} -ge $nsocks ]] && break
  sleep 0.1
done
kill -INT "$cpid"; wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 130 ]] && ok "SIGINT exits 130" || fail "SIGINT: exit $rc, want 130" "$tmp/out.err"
[[ $backend == bcc ]] && same_as_libbpf "$netns"
final=$(tail -1 "$tmp/out")
[[ $(jq -r '.type, .final, .stopped_by' <<<"$final" | tr '\n' ' ') == "summary true SIGINT " ]] &&
  ok "final summary object" || fail "final object: ${final:0:300}"
[[ $(jq -r .mismatches <<<"$final") == 0 ]] &&
  ok "every record agrees with the tracepoint's own ($(jq -r .closed <<<"$final") closed)" ||
  fail "records that disagree with the kernel's: $(jq -c 'select(.check == "mismatch")' "$tmp/out" | head -3)"
n=$(jq -s --argjson ns "$netns" '[.[] | select(.type == "close" and .netns == $ns)] | length' "$tmp/out")
[[ $n -eq $nsocks ]] && ok "$n close records in namespace $netns, one per socket" ||
  fail "$n close records in namespace $netns, want $nsocks" "$tmp/wl"

# Each socket of the workload against its record.
good=0
while read -r _ role pid sticks ns fam local lport remote rport sent received \
  brecv backed segin segout rtt retrans long; do
  rec=$(jq -c --arg l "$local" --argjson lp "$lport" --arg r "$remote" --argjson rp "$rport" \
    --argjson ns "$ns" 'select(.type == "close" and .netns == $ns and .local == $l and
      .lport == $lp and .remote == $r and .rport == $rp)' "$tmp/out")
  what="$role $fam $local:$lport -> $remote:$rport"
  if [[ $(wc -l <<<"$rec") -ne 1 || -z $rec ]]; then
    fail "$what: $(grep -c . <<<"$rec") close records, want 1"
    continue
  fi
  want=$(jq -n -c --arg fam "$fam" --argjson pid "$pid" --argjson st "$sticks" \
    --argjson b "$brecv" --argjson si "$segin" --argjson so "$segout" --argjson rtt "$rtt" \
    '{family: $fam, pid: $pid, start_ticks: $st, bytes_received: $b, segs_in: $si,
      segs_out: $so, rtt_us: $rtt, check: "ok"}')
  got=$(jq -c '{family, pid, start_ticks, bytes_received, segs_in, segs_out, rtt_us, check}' <<<"$rec")
  bad=""
  [[ $got == "$want" ]] || bad+=" got $got want $want;"
  [[ $brecv -eq $((received + 1)) ]] || bad+=" tcpi_bytes_received $brecv != $received sent by the peer + 1 (FIN);"
  acked=$(jq -r .bytes_acked <<<"$rec")
  # Calibrated by the net family since seq_subject.cpp's acked pair: never null here.
  [[ $acked == "$backed" ]] || bad+=" bytes_acked $acked != tcpi_bytes_acked $backed;"
  tr=$(jq -r .total_retrans <<<"$rec")
  # Calibrated by the net family since retrans_subject.cpp's episodes: never null here.
  [[ $tr == "$retrans" ]] || bad+=" total_retrans $tr != tcpi_total_retrans $retrans;"
  dur=$(jq -r .duration_s <<<"$rec")
  if [[ $long == 1 ]]; then
    awk -v d="$dur" -v h="$hold_ms" 'BEGIN { exit !(d >= h / 1000) }' || bad+=" long: duration $dur s < $hold_ms ms;"
  fi
  if [[ -n $bad ]]; then
    fail "$what:$bad"
  else
    good=$((good + 1))
  fi
done < <(grep '^sock ' "$tmp/wl")
[[ $good -eq $nsocks ]] &&
  ok "all $nsocks sockets: 4-tuple, namespace, owner key, bytes (exact), segments, rtt == TCP_INFO"

# Records the workload's long connections were also seen opening.
n=$(jq -s --argjson ns "$netns" '[.[] | select(.type == "open" and .netns == $ns)] | length' "$tmp/out")
[[ $n -eq $nsocks ]] && ok "$n open records (-> ESTABLISHED)" || fail "$n open records, want $nsocks"

# --pid: only that process's connections (this shell makes none).
start_conn --duration 600 --pid $$
unshare -n "$workload" "$seed" 1 0 >"$tmp/wl2" 2>"$tmp/wl.err" || fail "workload (--pid run)" "$tmp/wl.err"
sleep 1
kill -TERM "$cpid"; wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 143 ]] && ok "SIGTERM exits 143" || fail "SIGTERM: exit $rc, want 143" "$tmp/out.err"
n=$(jq -s '[.[] | select(.type == "close" or .type == "open")] | length' "$tmp/out")
[[ $n -eq 0 ]] && ok "--pid $$: no other process's connection" || fail "--pid $$: $n records"

start_conn --duration 1
wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 0 && $(tail -1 "$tmp/out" | jq -r .stopped_by) == --duration ]] &&
  ok "--duration exits 0" || fail "--duration: exit $rc" "$tmp/out.err"

# SIGKILL: no code of ours runs, the kernel frees what the process held
# (the program, its link and maps belong to its fds only).
start_conn --duration 600
ids=$(bpf_ids "$cpid")
kill -KILL "$cpid"; wait "$cpid"; rc=$?; cpid=
[[ $rc -eq 137 ]] && expect_bpf_gone "conn after SIGKILL" "$ids" &&
  ok "SIGKILL: exit 137, its $(wc -l <<<"$ids") BPF objects gone" || fail "SIGKILL: exit $rc"

# Human output: a table and a summary.
"$bin" conn "${bargs[@]}" --duration 1 --interval 0.3 >"$tmp/txt" 2>"$tmp/txt.err"; rc=$?
[[ $rc -eq 0 ]] && grep -q '^summary: ' "$tmp/txt" && grep -q '^PID  *COMM' "$tmp/txt" &&
  ok "table output" || fail "table output: exit $rc" "$tmp/txt" "$tmp/txt.err"

held=$(sed '/^$/d' <<<"$held" | sort -u)
expect_bpf_gone "conn runs" "$held" &&
  ok "every BPF object of the conn runs is gone ($(wc -l <<<"$held") programs, maps and links)"
finish
