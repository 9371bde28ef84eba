// SPDX-License-Identifier: GPL-2.0-only
// The net family's retransmission episodes: tcp_sock.total_retrans. In the
// subject's network namespace the loopback route to 127.0.0.1 gets a small
// locked rto_min (RTM_NEWROUTE, as `ip route replace local 127.0.0.1 dev lo
// table local rto_min 4ms` sends it), so the RTO is a few ms, not 200. A
// client whose classic socket filter drops every incoming packet (the ACKs
// of its data) writes 2 or 3 small segments and retransmits: a tail loss
// probe first (1), then RTOs (2, 3, ...). Once TCP_INFO counts the episode's
// target the filter is removed and the server writes a byte whose ACK ends
// the episode; tcpi_total_retrans read then, at rest, is the known value of
// the client's close.
//
// The episodes run on a helper thread of their own (not the subject's comm:
// the socket scanner does not see it) beside the subject's other sockets;
// only the clients' closes are the subject's, at the end of the trial. The
// probe-only client (~8 ms) fits in the time the other sockets take; the
// client with an RTO (~20 ms) does not, and runs in the first trial only.
#pragma once

#include "calibration/experiment/net/sock_subject.h"

#include <memory>

namespace offsetprobe::net {

class RetransEpisodes {
public:
  // Starts the helper thread. Call from the subject's thread, inside its
  // network namespace (lo up): the helper shares it. `with_rto`: a second
  // client, retransmitting twice (a probe, then an RTO).
  explicit RetransEpisodes(bool with_rto);
  ~RetransEpisodes();
  RetransEpisodes(const RetransEpisodes &) = delete;
  RetransEpisodes &operator=(const RetransEpisodes &) = delete;

  // Waits for the helper, then closes each episode's client in the
  // subject's thread and keeps the hit ESTABLISHED -> FIN_WAIT1 of that
  // close, knowing total_retrans. Where the episodes could not run here (the
  // route or the filter refused), sets run.no_retrans and captures nothing;
  // a close without its one hit sets run.error (the trial is void).
  void finish(SockScanSession &scan, SockTrialRun &run);

  struct State;

private:
  std::unique_ptr<State> st_;
};

} // namespace offsetprobe::net
