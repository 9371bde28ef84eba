// SPDX-License-Identifier: GPL-2.0-only
// The calibrator: runs the experiments (subjects + scanner), solves, and
// validates the offsets with the reader before anything is reported.
#pragma once

#include "calibration/capture.h"
#include "calibration/catalogue.h"
#include "calibration/environment.h"
#include "calibration/proc_read.h"
#include "calibration/result.h"
#include "calibration/snapshot.h"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace offsetprobe {

struct CalibrateOptions {
  uint32_t trials = 3;
  TriggerMode trigger = TriggerMode::automatic;
  uint32_t subject_timeout_ms = 10'000; // a subject that says nothing for this long is hung
  std::string self_exe = "/proc/self/exe";
  bool validate = true;
  // The fields to calibrate (--fields). Beyond the task family, the chain
  // experiment runs (subjects C and N), and a second capture stage when a
  // selected field lies behind a pointer (plan_stages on the catalogue's
  // Requires graph). Only the selected fields are reported.
  FieldSelection fields = FieldSelection::all();
  const Backend *backend = nullptr; // nullptr: libbpf_backend()
  // What the calibration runs on (subjects, clocks, programs); nullptr: the
  // running kernel (live_environment()). Tests pass a fake.
  const Environment *environment = nullptr;
  // Set by a signal handler: the calibration stops, kills its subjects and
  // throws Fatal(exit_interrupted / exit_terminated).
  const std::atomic<int> *stop_signal = nullptr;
  // Test hook: called with the stage name and the subjects' pids (the host
  // first, then the leaders). Stages, in order: trial-spawned (every trial
  // leader forked), trial-ready (every leader reported, snapshots not read
  // yet), trial-released, validate-spawned, validate-ready (read-backs not
  // read yet). Scanner (and from validate-* on, reader) attached throughout.
  std::function<void(const std::string &stage, const std::vector<int> &pids)> on_stage;
};

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

// Throws Fatal with the matching exit code on any failure that stops the
// experiment (privileges, BPF, subjects, signals). A field that could not be
// found is not an exception: it is reported in the result.
Calibration calibrate(const CalibrateOptions &opt);

// Reads offsets found elsewhere (a fleet bundle, say) back on this kernel with
// the reader program, exactly like a calibration's own validation. Fields
// that fail become unresolved. Throws Fatal like calibrate().
std::vector<FieldResult> validate_offsets(const CalibrateOptions &opt,
                                          std::vector<FieldResult> fields);

} // namespace offsetprobe
