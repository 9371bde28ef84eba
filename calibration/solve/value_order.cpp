// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/value_order.h"

#include <string>

namespace offsetprobe {

namespace {

void place(FieldResult &f, uint32_t off, const std::string &why) {
  f.status = FieldStatus::calibrated;
  f.offset = off;
  f.candidates.clear();
  f.reason = why;
}

} // namespace

bool split_by_value_order(FieldResult &early, FieldResult &late, const std::vector<Trial> &trials,
                          const LayoutOrder &layout) {
  if (early.status != FieldStatus::ambiguous || late.status != FieldStatus::ambiguous ||
      early.candidates != late.candidates || early.candidates.size() != 2)
    return false;
  const uint32_t x = early.candidates[0], y = early.candidates[1];
  // Every captured subject of every trial, each one a task copy_process() made.
  int x_below = 0, y_below = 0, equal = 0;
  for (const auto &t : trials)
    for (const Subject *s : {&t.leader, &t.thread, &t.grandchild, &t.exiter}) {
      if (!s->snap.captured || !s->snap.readable_range(x, 8) || !s->snap.readable_range(y, 8))
        continue;
      auto vx = s->snap.load<uint64_t>(x), vy = s->snap.load<uint64_t>(y);
      x_below += vx < vy;
      y_below += vy < vx;
      equal += vx == vy;
    }
  const std::string pair = std::to_string(x) + ", " + std::to_string(y);
  const std::string seen = std::to_string(x_below) + " below, " + std::to_string(y_below) +
                           " above, " + std::to_string(equal) + " equal";
  if (x_below > 0 && y_below == 0) {
    std::string why = "candidates " + pair +
                      ": start_boottime >= start_time in every task "
                      "(copy_process() reads the monotonic clock first); " +
                      std::to_string(x) + "'s value vs " + std::to_string(y) + "'s: " + seen;
    place(early, x, why);
    place(late, y, why);
    return true;
  }
  if (y_below > 0 && x_below == 0) {
    std::string why = "candidates " + pair +
                      ": start_boottime >= start_time in every task "
                      "(copy_process() reads the monotonic clock first); " +
                      std::to_string(y) + "'s value vs " + std::to_string(x) +
                      "'s: " + std::to_string(y_below) + " below, 0 above, " +
                      std::to_string(equal) + " equal";
    place(early, y, why);
    place(late, x, why);
    return true;
  }
  if (x_below == 0 && y_below == 0 && equal > 0) {
    // The two clock reads gave the same ns in every task: no order of values.
    // `u64 start_time; u64 start_boottime;` are declared next to each other
    // in that order (since 3.17), which decides only on a declared layout.
    if (y == x + 8 && layout_rules_allowed(layout)) {
      std::string why = "clocks indistinguishable (never suspended, equal in every task): "
                        "adjacent pair " +
                        pair + " split by declaration order (start_time first)";
      place(early, x, why);
      place(late, y, why);
      return true;
    }
    std::string why = "candidates " + pair +
                      " hold equal values in every task, so the order of "
                      "values cannot tell start_time from start_boottime" +
                      (layout.randomized ? "; randomized layout detected (" + layout.evidence +
                                               "): declaration order does not apply"
                                         : "; they are not adjacent");
    early.reason = late.reason = why;
    return false;
  }
  if (x_below > 0 && y_below > 0) {
    std::string why = "candidates " + pair + ": neither value is the lower in every task (" + seen +
                      "); one is not a start time";
    early.reason = late.reason = why;
  }
  return false;
}

} // namespace offsetprobe
