// SPDX-License-Identifier: GPL-2.0-only
// start_time vs start_boottime by the order of their values, wherever they
// sit. copy_process() reads `p->start_time = ktime_get_ns()` and then
// `p->start_boottime = ktime_get_boottime_ns()` (real_start_time before 5.5,
// same order since 3.17): boottime is monotonic plus the time suspended, read
// later, so start_boottime >= start_time in every task. When both fields have
// the same two candidates {x, y} (a machine never suspended: both values fit
// both windows), a subject with x's value below y's proves x is start_time.
#pragma once

#include "calibration/solve/layout_order.h"
#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"

#include <vector>

namespace offsetprobe {

// Places `early` (start_time) and `late` (start_boottime) when both are
// ambiguous with the same two candidates: by the order of values when at
// least one subject shows it strictly and none the other way; when the values
// are equal in every subject (two clock reads within one ns), by declaration
// order only if the pair is adjacent and the layout is the declared one, else
// they stay ambiguous with the reason. Returns true when it placed them.
bool split_by_value_order(FieldResult &early, FieldResult &late, const std::vector<Trial> &trials,
                          const LayoutOrder &layout);

} // namespace offsetprobe
