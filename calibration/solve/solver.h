// SPDX-License-Identifier: GPL-2.0-only
// The solver: pure. Snapshots and known values in, offsets (or a reasoned
// "ambiguous" / "unresolved") out. No kernel access, no I/O.
#pragma once

#include "calibration/model/solve_options.h"
#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"

#include <vector>

namespace offsetprobe {

class FieldSelection; // calibration/model/catalogue.h

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
