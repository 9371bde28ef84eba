// SPDX-License-Identifier: GPL-2.0-only
// What a family's read-back check (Family::verify) works with: the
// validation subject's known values, what the reader read for each role
// through the catalogue's plan, and the fields it passes or fails.
#pragma once

#include "calibration/model/catalogue.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

class ReadbackCheck {
public:
  ReadbackCheck(std::vector<FieldResult> &fields, const ReadbackPlan &plan, const Trial &trial,
                std::map<Role, ReadValues> seen, int64_t tick_offset_ns, uint64_t tick_ns)
      : fields_(fields), plan_(plan), trial_(trial), seen_(std::move(seen)),
        tick_offset_ns_(tick_offset_ns), tick_ns_(tick_ns) {}

  // The validation subject's known values.
  const Trial &trial() const { return trial_; }
  // What the reader saw for `role` (not captured when it was not read).
  const ReadValues &seen(Role role) const;
  // The plan's step for a read-back path (nullopt: not read, because a field
  // on the path was not calibrated).
  std::optional<uint32_t> step(const std::vector<std::string> &path) const {
    return plan_.at(path);
  }

  // A field by full name ("cred.uid"), or task_struct's by member ("pid").
  FieldResult *find(const std::string &name);
  // Its offset while it is calibrated (a failed check makes it unresolved).
  std::optional<uint32_t> offset(const std::string &name);
  // The offset the read-back dereferences for a pointer field: calibrated,
  // or a candidate of an interchangeable pair (result.h pointer_offset).
  std::optional<uint32_t> via(const std::string &name);
  // Passes a calibrated field, or fails it: a found offset that does not
  // read back is never reported (the field becomes unresolved, the offset
  // is kept only as a candidate). No-op for a field not calibrated.
  void check(const std::string &name, bool ok, const std::string &detail);
  // Passes an interchangeable pair (both ambiguous, pointer_offset) as a pair
  // when the fields behind it read back through it; else the pair is no
  // longer offered as interchangeable. No-op for any other pair.
  void check_pair(const std::string &a, const std::string &b, bool ok, const std::string &detail);
  // True when the boottime value `v` gives /proc/<pid>/stat's start `ticks`
  // (after the time namespace's offset); true when the ticks are unknown.
  bool ticks_ok(uint64_t v, const std::optional<uint64_t> &ticks) const;

private:
  std::vector<FieldResult> &fields_;
  const ReadbackPlan &plan_;
  const Trial &trial_;
  std::map<Role, ReadValues> seen_;
  int64_t tick_offset_ns_;
  uint64_t tick_ns_;
};

} // namespace offsetprobe
