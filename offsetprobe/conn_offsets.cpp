// SPDX-License-Identifier: GPL-2.0-only
#include "offsetprobe/conn_offsets.h"

#include "calibration/error.h"
#include "offsetprobe/calibrate_cached.h"
#include "offsetprobe/exit_codes.h"

namespace offsetprobe {

ConnOffsets conn_offsets(const GlobalOptions &g) {
  CalibrateRequest req;
  std::string why;
  auto sel = FieldSelection::parse("net", why); // closed under Requires: task, ns.inum
  if (!sel)
    throw Fatal(exit_failure, "conn: the net family is not in the catalogue: " + why);
  req.engine.fields = *sel;
  CalibrateOutcome out = calibrate_cached(g, req);
  if (out.source != "cache")
    log_info(g, "offsets: " + out.source + (out.path ? " (" + *out.path + ")" : ""));
  const CalibrationResult &r = out.entry.calibration;
  ConnOffsets o;
  auto get = [&](const char *name) -> std::optional<uint32_t> {
    const FieldResult *f = r.find(name);
    if (!f) {
      o.missing.push_back(std::string(name) + ": not in the calibration");
      return std::nullopt;
    }
    if (f->status != FieldStatus::calibrated || f->validation != Validation::passed || !f->offset) {
      o.missing.push_back(std::string(name) + ": " + to_string(f->status) + ", validation " +
                          to_string(f->validation) + (f->reason.empty() ? "" : ": " + f->reason));
      return std::nullopt;
    }
    log_debug(g, std::string(name) + " at offset " + std::to_string(*f->offset));
    return f->offset;
  };
  auto &s = o.sock;
  auto leader = get("task_struct.group_leader");
  auto start = get("task_struct.start_boottime");
  s.family = get("sock_common.skc_family");
  s.sport = get("inet_sock.inet_sport");
  s.dport = get("sock_common.skc_dport");
  s.rcv_saddr = get("sock_common.skc_rcv_saddr");
  s.daddr = get("sock_common.skc_daddr");
  std::vector<std::string> needed = o.missing; // the ones conn cannot work without
  s.v6_rcv_saddr = get("sock_common.skc_v6_rcv_saddr");
  s.v6_daddr = get("sock_common.skc_v6_daddr");
  s.net = get("sock_common.skc_net");
  s.inum = get("net.ns.inum");
  s.bytes_received = get("tcp_sock.bytes_received");
  s.bytes_acked = get("tcp_sock.bytes_acked");
  s.segs_in = get("tcp_sock.segs_in");
  s.segs_out = get("tcp_sock.segs_out");
  s.total_retrans = get("tcp_sock.total_retrans");
  s.srtt = get("tcp_sock.srtt_us");
  if (!needed.empty()) {
    std::string list;
    for (const auto &m : needed)
      list += "\n  " + m;
    throw Fatal(exit_not_calibrated,
                "conn needs offsets that are not known for this kernel (run offsetprobe "
                "calibrate --fields net to see why):" +
                    list);
  }
  o.group_leader = *leader;
  o.start_boottime = *start;
  return o;
}

} // namespace offsetprobe
