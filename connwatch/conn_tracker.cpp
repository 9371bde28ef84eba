// SPDX-License-Identifier: GPL-2.0-only
#include "connwatch/conn_tracker.h"

#include <algorithm>

namespace offsetprobe::conn {

const char *to_string(OwnerCheck c) {
  switch (c) {
  case OwnerCheck::ok:
    return "ok";
  case OwnerCheck::mismatch:
    return "mismatch";
  case OwnerCheck::exited:
    return "exited";
  case OwnerCheck::unknown:
    break;
  }
  return "unknown";
}

OwnerCheck check_owner(const Owner &o, ProcSource &proc) {
  if (!o.known())
    return OwnerCheck::unknown;
  auto st = proc.stat(o.tgid);
  if (!st)
    return OwnerCheck::exited;
  return st->start_ticks == o.start_ticks ? OwnerCheck::ok : OwnerCheck::mismatch;
}

void ConnTracker::add(const ConnRecord &r) {
  closed_++;
  bool known = r.owner.known();
  auto key = known ? std::pair{r.owner.tgid, r.owner.start_ticks} : std::pair{0u, uint64_t(0)};
  auto &p = procs_[key];
  p.tgid = key.first;
  p.start_ticks = key.second;
  if (known && p.comm.empty())
    p.comm = r.owner.comm;
  if (!known)
    p.comm = "(unknown owner)";
  p.connections++;
  p.bytes_received += r.bytes_received.value_or(0);
  p.bytes_acked += r.bytes_acked.value_or(0);
  p.total_retrans += r.total_retrans.value_or(0);
  if (!r.mismatches.empty()) {
    p.mismatches++;
    mismatches_++;
  }
}

std::vector<ProcessTotals> ConnTracker::processes() const {
  std::vector<ProcessTotals> out;
  for (const auto &[k, v] : procs_)
    out.push_back(v);
  std::stable_sort(out.begin(), out.end(), [](const ProcessTotals &a, const ProcessTotals &b) {
    return a.connections != b.connections ? a.connections > b.connections : a.tgid < b.tgid;
  });
  return out;
}

} // namespace offsetprobe::conn
