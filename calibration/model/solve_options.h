// SPDX-License-Identifier: GPL-2.0-only
// What the solvers are told besides the trials: plain data, shared by the
// solvers (calibration/solve/), the trials' JSON form (trial_json.h) and the
// calibrator that fills it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace offsetprobe {

// Is this kernel's struct layout the declared one (not shuffled by
// randstruct)? How it is found out: calibration/solve/layout_order.h.
struct LayoutOrder {
  bool randomized = false;
  std::string evidence; // why randomized, e.g. "task_struct.tgid (1112) before .pid (1864)"
};

// True when declaration-order and adjacency rules may run.
inline bool layout_rules_allowed(const LayoutOrder &l) {
  return !l.randomized;
}

struct SolveOptions {
  uint32_t min_trials = 3;             // a field must agree across this many trials
  uint64_t tick_ns = 10'000'000;       // one USER_HZ tick in ns (USER_HZ = 100)
  std::optional<uint32_t> struct_size; // scan only below this (slab object size)
  int64_t boot_offset_ns = 0;          // time namespace boottime offset /proc adds
  // What is known of the layout before solving (the kernel config; what
  // solve() found, for solve_chains()). Declaration-order and adjacency rules
  // stand down when it is randomized.
  LayoutOrder layout;
};

} // namespace offsetprobe
