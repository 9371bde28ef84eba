// SPDX-License-Identifier: GPL-2.0-only
// Totals of `offsetprobe conn` per owning process, keyed by (tgid, start
// ticks) as `count` keys them, and the check of each owner key against
// /proc/<tgid>/stat field 22. Pure logic over a ProcSource: tested without
// root.
#pragma once

#include "connwatch/conn_record.h"
#include "counting/tracker.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace offsetprobe::conn {

// What /proc says of a record's owner key when the record arrives.
enum class OwnerCheck {
  ok,       // a live process has this tgid and started at these ticks
  mismatch, // a live process has this tgid but another start: a wrong offset, or a reused pid
  exited,   // no process has this tgid any more
  unknown,  // no owner seen (a passive socket closed by the peer's reset, or seen mid-life)
};
const char *to_string(OwnerCheck c);

OwnerCheck check_owner(const Owner &o, ProcSource &proc);

struct ProcessTotals {
  uint32_t tgid = 0;
  uint64_t start_ticks = 0;
  std::string comm;
  uint64_t connections = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_acked = 0;
  uint64_t total_retrans = 0;
  uint64_t mismatches = 0; // records that disagree with the tracepoint's own record
};

class ConnTracker {
public:
  // A closed connection's record (open events are not totalled).
  void add(const ConnRecord &r);
  // Per owner, most connections first; the key {0, 0} holds unknown owners.
  std::vector<ProcessTotals> processes() const;
  uint64_t closed() const { return closed_; }
  uint64_t opened() const { return opened_; }
  void note_open() { opened_++; }
  uint64_t mismatches() const { return mismatches_; }

private:
  std::map<std::pair<uint32_t, uint64_t>, ProcessTotals> procs_;
  uint64_t closed_ = 0, opened_ = 0, mismatches_ = 0;
};

} // namespace offsetprobe::conn
