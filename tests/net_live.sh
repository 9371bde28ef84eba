#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   net_live: the net family (struct sock_common, sock, inet_sock, tcp_sock,
#        socket) equals
#        BTF, found with BTF hidden, through sock:inet_sock_set_state only
# RUN    unshare -m; tmpfs over /sys/kernel/btf; offsetprobe calibrate
#        --fields net --no-cache --json; then, BTF visible again, judged by
#        two oracles: offsetprobe verify --input --json and bpftool
#        (tests/oracle_check.py, scripts/matrix/btf-truth.sh)
# EXPECT exit 0 from calibrate; every field calibrated, read back from the sk
#        (validation passed) and equal to BTF by both oracles, which agree;
#        at least 38 net fields (sock_common, sock, inet_sock, tcp_sock,
#        socket), tcp_sock's sequence numbers, bytes_acked and total_retrans
#        (the retransmission episodes), sk_socket,
#        sk_type, sk_protocol and struct socket's sk, file, type and state
#        among them (sk_socket and socket.file read back by round trips).
# Skips (exit 77, typed reason) without root, BPF, bpftool, BTF or
# unshare; fails instead when CI=true. Usage: net_live.sh OFFSETPROBE_BINARY
set -uo pipefail
bin=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib_live.sh"
need_live
need_btf
command -v unshare >/dev/null || skip "no-unshare: util-linux missing"
unshare -n true 2>/dev/null || skip "no-netns: unshare -n refused (the subject needs a network namespace)"

rc=0
without_btf calibrate --fields net --no-cache --json >"$tmp/cal.json" 2>"$tmp/err" || rc=$?
if [[ $rc -ne 0 ]]; then
  fail "calibrate --fields net with BTF hidden: exit $rc, want 0" "$tmp/err" "$tmp/cal.json"
  finish
fi
two_oracles "net_live, BTF hidden while calibrating" "$tmp/cal.json" --complete --min-fields 38
n=$(jq '[.fields[] | select(.struct | IN("sock_common", "sock", "inet_sock", "tcp_sock", "socket"))
  | select(.status == "calibrated" and .validation == "passed")] | length' "$tmp/cal.json")
[[ $n -ge 38 ]] && ok "$n net fields calibrated and read back from the sk" ||
  fail "only $n net fields calibrated and read back, want 38" "$tmp/cal.json"
for f in sock_common.skc_daddr sock_common.skc_net sock_common.skc_v6_daddr \
  tcp_sock.snd_una tcp_sock.snd_nxt tcp_sock.rcv_nxt tcp_sock.bytes_acked tcp_sock.total_retrans \
  sock.sk_socket sock.sk_type sock.sk_protocol socket.sk socket.file socket.type socket.state; do
  s=$(jq -r --arg f "$f" '.fields[] | select(.name == $f) | .status' "$tmp/cal.json")
  [[ $s == calibrated ]] && ok "$f calibrated" || fail "$f is ${s:-missing}, want calibrated"
done

finish
