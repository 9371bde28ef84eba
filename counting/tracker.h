// SPDX-License-Identifier: GPL-2.0-only
// The user-space half of the counting probe: totals per key across map
// drains, and the check of every key against /proc/<tgid>/stat field 22.
// Pure logic over a ProcSource, so it is tested without root.
#pragma once

#include "counting/counter_session.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offsetprobe {

// What a key's check against /proc says.
enum class KeyCheck {
  ok,         // /proc/<tgid>/stat field 22 equals the key's start ticks
  mismatch,   // a process with this tgid lives but started at another time, and
              // the key never matched: a wrong offset (or a pid reused before
              // the first check; see docs/counting-probe.md)
  exited,     // matched while alive, now gone
  reused,     // matched while alive; the tgid now belongs to a later process
  unverified, // gone before the first check could see it
};

const char *to_string(KeyCheck c);

// One process as /proc shows it.
struct ProcStat {
  uint64_t start_ticks = 0; // field 22
  std::string comm;         // field 2, without the parentheses
};

// Parses the text of /proc/<pid>/stat (comm may hold spaces and ')').
std::optional<ProcStat> parse_proc_stat(std::string_view text);

class ProcSource {
public:
  virtual ~ProcSource() = default;
  // The process with this tgid, or nullopt when there is none.
  virtual std::optional<ProcStat> stat(uint32_t tgid) = 0;
  // readlink /proc/<tgid>/exe, or nullopt.
  virtual std::optional<std::string> exe(uint32_t) { return std::nullopt; }
};

// Reads /proc/<tgid>/stat and /proc/<tgid>/exe.
class LiveProcSource : public ProcSource {
public:
  std::optional<ProcStat> stat(uint32_t tgid) override;
  std::optional<std::string> exe(uint32_t tgid) override;
};

struct ProcessRow {
  CountKey key;
  std::string comm;            // the kernel's, else /proc's; "-" when neither gave one
  std::string exe;             // the same for the executable's path
  const char *name_from = "-"; // "kernel", "proc" or "-" (of comm)
  uint64_t count = 0;
  uint64_t delta = 0; // since the previous update
  KeyCheck check = KeyCheck::unverified;
};

class CountTracker {
public:
  // Idle keys that matched are re-read from /proc only on every sweep_every-th
  // update (busy keys on every update), to find processes that exited without
  // counting more, so that their entries are drained.
  explicit CountTracker(uint32_t sweep_every = 10) : sweep_every_(sweep_every ? sweep_every : 1) {}

  // Takes the map's entries, checks each key whose count changed or whose
  // check is not final, and returns the keys whose process is gone (exited
  // or reused). The caller takes each one's final count out of the map and
  // hands it to settle(), so that the map holds live processes only.
  // full_sweep: re-read every key now (the final update).
  std::vector<CountKey> update(const std::vector<CountEntry> &entries, ProcSource &proc,
                               bool full_sweep = false);
  // The final count of a key update() returned; the count is kept here.
  void settle(const CountKey &key, uint64_t final_count);
  // A name the kernel sent (KernelName): the latest one wins, and /proc is
  // then read only for what it did not give.
  void name(const CountKey &key, const std::string &comm, const std::string &exe);

  // Sorted by count, highest first (then by tgid).
  std::vector<ProcessRow> rows() const;
  uint64_t total() const;
  size_t mismatches() const;

private:
  struct State {
    uint64_t drained = 0; // counts of earlier map entries with this key
    uint64_t in_map = 0;
    uint64_t reported = 0; // count at the previous update
    uint64_t delta = 0;
    std::string comm = "-", exe = "-"; // from /proc
    std::string kcomm, kexe;           // from the kernel
    KeyCheck check = KeyCheck::unverified;
    bool verified = false; // matched a live process at least once
    bool gone = false;     // final: the process no longer exists
  };
  uint32_t sweep_every_;
  std::map<CountKey, State> keys_;
  uint64_t updates_ = 0;
};

} // namespace offsetprobe
