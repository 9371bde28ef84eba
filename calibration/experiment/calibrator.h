// SPDX-License-Identifier: GPL-2.0-only
// The calibrator: runs the experiments (subjects + scanner), solves, and
// validates the offsets with the reader before anything is reported.
#pragma once

#include "calibration/experiment/capture.h"
#include "calibration/model/calibrate_options.h"
#include "calibration/model/catalogue.h"
#include "calibration/experiment/environment.h"
#include "calibration/experiment/proc_read.h"
#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace offsetprobe {

// Everything one calibration produced, including the raw trials (for
// --dump-snapshots and offline fixtures).
struct Calibration {
  CalibrationResult result;
  std::vector<Trial> trials;
  // The capture stages planned from the catalogue's Requires graph
  // (plan_stages): stage 1 task_struct's own bytes, stage 2 behind pointers.
  std::vector<std::vector<std::string>> stages;
  int64_t boot_offset_ns = 0;
  int64_t mono_offset_ns = 0;
};

// Throws Error with the matching exit code on any failure that stops the
// experiment (privileges, BPF, subjects, signals). A field that could not be
// found is not an exception: it is reported in the result.
Calibration calibrate(const CalibrateOptions &opt);

// The subject host and the validation subject, started (the subject set up
// and held) before the offsets to validate are known, so that a caller can
// parse them meanwhile. `opt` must outlive it and be the options
// validate_offsets() gets. The destructor ends the host and the subject if
// validate_offsets() did not take them.
struct ValidationSubjects {
  ValidationSubjects();
  ValidationSubjects(ValidationSubjects &&) noexcept;
  ValidationSubjects &operator=(ValidationSubjects &&) noexcept;
  ~ValidationSubjects();
  std::unique_ptr<Subjects> host;
  std::vector<Launched> subjects; // one
};
// Throws Error like calibrate() (privileges, the host's start).
ValidationSubjects start_validation_subjects(const CalibrateOptions &opt);

// Reads offsets found elsewhere (a fleet bundle, say) back on this kernel with
// the reader program, exactly like a calibration's own validation. Fields
// that fail become unresolved. Throws Error like calibrate(). `started`:
// subjects from start_validation_subjects(opt), taken over; without them
// it starts its own. `later`: where the subject host's finish and the
// files and net families' subjects and programs go once their results are
// in, for the caller to end (teardown.h: beside its own remaining work;
// `opt` must outlive them); without it they end before this returns.
std::vector<FieldResult> validate_offsets(const CalibrateOptions &opt,
                                          std::vector<FieldResult> fields,
                                          ValidationSubjects *started = nullptr,
                                          Deferred *later = nullptr);

} // namespace offsetprobe
