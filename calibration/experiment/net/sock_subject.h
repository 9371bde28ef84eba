// SPDX-License-Identifier: GPL-2.0-only
// The net family's subject: a thread of the calibrator that unshares its
// network namespace, brings lo up, adds two random ULAs to it, and runs TCP
// listeners and connections over IPv4 and IPv6 with random addresses, ports
// and socket options. Its comm is a cookie, so the socket scanner captures
// the struct sock of each transition its syscalls make; it keeps, for each
// syscall, the one hit of the transition that syscall makes, with the
// values it set or read for that socket.
#pragma once

#include "calibration/experiment/net/sockscan_session.h"

#include <memory>
#include <string>
#include <vector>

namespace offsetprobe::net {

struct SockTrialRun {
  SockTrial trial;
  // The hits kept, with the read-back values, parallel to trial.captures
  // (keep()): the capture itself moves to trial.captures, the event keeps
  // only the plan's values (vals, vals_ok), which is all the read-back
  // checks read of it.
  std::vector<SockEvent> events;
  // Why the experiment could not run on this host (no network namespace,
  // say): the fields are then unresolved, not required.
  std::string cannot_run;
  // Why IPv6 could not be used (no IPv6, a ULA refused): the v6 fields are
  // then unknown in this trial.
  std::string no_v6;
  // Why TCP_REPAIR could not be used (no CAP_NET_ADMIN): tcp_sock's
  // sequence numbers are then unknown in this trial (seq_subject.h).
  std::string no_repair;
  // Why the UDP socket's hit could not be had (no
  // udp:udp_fail_queue_rcv_skb): sk_type, sk_protocol and socket.type then
  // have the TCP value only (udp_subject.h).
  std::string no_udp;
  // Why the retransmission episodes could not run (the route's rto_min or
  // the socket filter refused): total_retrans is then known as 0 only
  // (retrans_subject.h).
  std::string no_retrans;
  // A hit that was missing or not the one expected: the trial is void.
  std::string error;
  // Keeps `hit` (its known values set): one copy of its ~21 KiB capture,
  // not two (each fresh page a page fault, ~10 us on this kind of VM).
  void keep(SockEvent &&hit) {
    trial.captures.push_back(std::move(hit.capture));
    hit.capture = SockCapture();
    events.push_back(std::move(hit));
  }
};

// A trial whose subject thread starts at once: it takes its comm (the
// cookie), unshares its network namespace, sets it up and starts the
// retransmission episodes (its own sockets move only once it runs, so the
// scanner misses nothing yet), then waits for run(). Made before the
// socket scanner is loaded, its episodes run while the scanner loads.
class PendingSockTrial {
public:
  PendingSockTrial(const std::string &cookie, bool rto_episode);
  // Not run: the thread is let go without its trial and joined.
  ~PendingSockTrial();
  PendingSockTrial(const PendingSockTrial &) = delete;
  PendingSockTrial &operator=(const PendingSockTrial &) = delete;
  const std::string &cookie() const;
  // Lets the subject run its trial with `scan` (the cookie registered by
  // the caller); returns when every socket is closed and the thread ended.
  // Once only.
  SockTrialRun run(SockScanSession &scan);
  struct State;

private:
  std::unique_ptr<State> st_;
};

// Runs one trial on a thread of its own, whose comm is `cookie` (registered
// in `scan` by the caller). Returns when every socket is closed and the
// thread has ended. `rto_episode`: the retransmission episodes include the
// client with an RTO (retrans_subject.h), which lengthens the trial.
SockTrialRun run_sock_trial(SockScanSession &scan, const std::string &cookie,
                            bool rto_episode = false);

} // namespace offsetprobe::net
