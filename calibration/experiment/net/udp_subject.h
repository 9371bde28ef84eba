// SPDX-License-Identifier: GPL-2.0-only
// The net family's UDP socket: sock.sk_type, sock.sk_protocol and
// socket.type, which every TCP socket holds at the same values (SOCK_STREAM,
// IPPROTO_TCP). A UDP socket with the smallest receive buffer is sent
// datagrams over loopback until its queue is full: __udp_queue_rcv_skb then
// fires udp:udp_fail_queue_rcv_skb with its sk, in softirq work run on the
// sender's stack (the subject's comm).
#pragma once

#include "calibration/experiment/net/sock_subject.h"

namespace offsetprobe::net {

// Runs in the subject's thread, inside its network namespace (lo up):
// appends one capture of the UDP socket's hit to run.trial.captures and
// run.events. Where the hook is not attached, sets run.no_udp and captures
// nothing; a step that fails sets run.error (the trial is void).
void run_udp_socket(SockScanSession &scan, SockTrialRun &run);

} // namespace offsetprobe::net
