// SPDX-License-Identifier: GPL-2.0-only
// Where `offsetprobe conn` gets its offsets: this kernel's cache entry (a
// calibration of the net family first, when there is no valid entry).
#pragma once

#include "connwatch/conn_session.h"
#include "offsetprobe/usecases/global_options.h"

#include <string>
#include <vector>

namespace offsetprobe {

struct ConnOffsets {
  conn::SockOffsets sock;
  uint32_t group_leader = 0, start_boottime = 0;
  // The fields conn reports as unknown, with why ("tcp_sock.bytes_acked:
  // not in the calibration").
  std::vector<std::string> missing;
};

// The offsets conn reads through: only calibrated fields whose read-back
// passed; the others stay nullopt (never a default, never a guess). Throws
// Error(ErrorKind::not_calibrated) when one it cannot work without is missing:
// task_struct.group_leader and start_boottime (the owner key), and
// sock_common's skc_family, skc_dport, skc_rcv_saddr and skc_daddr and
// inet_sock.inet_sport
// (the 4-tuple of a v4 connection).
ConnOffsets conn_offsets(const GlobalOptions &g);

} // namespace offsetprobe
