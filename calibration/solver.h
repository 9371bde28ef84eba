// SPDX-License-Identifier: GPL-2.0-only
// The solver: pure. Snapshots and known values in, offsets (or a reasoned
// "ambiguous" / "unresolved") out. No kernel access, no I/O.
#pragma once

#include "calibration/layout_order.h"
#include "calibration/result.h"
#include "calibration/snapshot.h"

#include <vector>

namespace offsetprobe {

class FieldSelection; // calibration/catalogue.h

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

// The fields of task_struct this engine calibrates, in report order.
const std::vector<FieldResult> &task_struct_fields();

// Solves every field; validation is left as not_run.
std::vector<FieldResult> solve(const std::vector<Trial> &trials, const SolveOptions &opt);

// Solves the selected fields that the catalogue declares with a predicate
// (FieldDef::predicate: fields in task_struct's own bytes of families other
// than task, e.g. sched), on the same stage-1 trials and with the same search
// as solve(), and appends them to `established` (solve()'s results and any
// others). A declared field whose only candidate overlaps a calibrated field
// of its struct is withdrawn together with that field, as in solve().
void solve_declared(const std::vector<Trial> &trials, const SolveOptions &opt,
                    const FieldSelection &sel, std::vector<FieldResult> &established);

} // namespace offsetprobe
