// SPDX-License-Identifier: GPL-2.0-only
// The net family's sequence-number sockets: tcp_sock.snd_una, snd_nxt and
// rcv_nxt. They are known only through TCP_REPAIR (root): a socket in repair
// mode takes its initial sequence numbers from the caller, "connects" with
// no packet, and queues data in either direction without sending anything,
// so the three fields and the words that usually equal them (write_seq,
// pushed_seq, snd_sml, snd_up, copied_seq, rcv_wup) are moved apart at
// will. No peer, no timer runs within the trial, no softirq: every hit is
// the subject's own syscall.
#pragma once

#include "calibration/experiment/net/sock_subject.h"

namespace offsetprobe::net {

// Runs in the subject's thread, inside its network namespace (lo up), after
// its other sockets: three repair sockets, each ending in a hit ESTABLISHED
// -> CLOSE (tcp_disconnect) whose capture knows the three fields. Appends to
// run.trial.captures and run.events. Where TCP_REPAIR is refused (no
// CAP_NET_ADMIN), sets run.no_repair and captures nothing; a step that
// fails sets run.error (the trial is void).
void run_seq_sockets(SockScanSession &scan, SockTrialRun &run);

} // namespace offsetprobe::net
