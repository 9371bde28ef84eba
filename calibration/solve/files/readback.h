// SPDX-License-Identifier: GPL-2.0-only
// The file family's read-back: a fresh trial (new subjects, new random
// values), every found field read in the kernel through the found offsets
// only (the walker follows them from the task: no search), and compared with
// what the subjects are known to hold. A field whose read-back disagrees
// becomes unresolved: its offset is never reported.
#pragma once

#include "calibration/solve/files/known.h"
#include "calibration/solve/files/solve.h"
#include "calibration/solve/files/walk.h"
#include "calibration/model/result.h"

#include <vector>

namespace offsetprobe::files {

// The offsets a read-back of offsets found elsewhere (a bundle's) walks:
// the family's calibrated fields of `fields` and task_struct.mm's offset.
// `mine` gets the family's fields of `fields`, for readback_files.
FoundOffsets given_offsets(const std::vector<FieldResult> &fields, std::vector<FieldResult> &mine);

// Reads back every calibrated field of `fields` for the subjects `f` (F)
// and `r` (R) of `trial`, and passes or fails it.
void readback_files(Memory &mem, const TrialKnown &trial, int f, int r, const FoundOffsets &found,
                    std::vector<FieldResult> &fields);

} // namespace offsetprobe::files
