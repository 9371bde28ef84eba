// SPDX-License-Identifier: GPL-2.0-only
// What a calibration is asked to do: one type from the command line down.
// Filled by the CLI (offsetprobe/cli/), read by calibrate_cached
// (offsetprobe/usecases/: the cache's policy and the bundle), and by the
// calibrator, the subject host and the families' experiments
// (calibration/experiment/: the engine's part).
#pragma once

#include "calibration/model/catalogue.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace offsetprobe {

struct Backend;    // calibration/experiment/capture.h
class Environment; // calibration/experiment/environment.h

// Where a subject's trigger is caught.
enum class TriggerMode {
  automatic,      // raw_tracepoint, else uprobe
  tracepoint,     // syscalls:sys_enter_getppid (needs tracefs and FTRACE_SYSCALLS)
  raw_tracepoint, // raw sys_enter filtered by syscall number (no tracefs needed)
  uprobe,         // a uprobe on offsetprobe_trigger() in this binary
};

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
  // throws Error(ErrorKind::interrupted / ErrorKind::terminated).
  const std::atomic<int> *stop_signal = nullptr;
  // Test hook: called with the stage name and the subjects' pids (the host
  // first, then the leaders). Stages, in order: trial-spawned (every trial
  // leader forked), trial-ready (every leader reported, snapshots not read
  // yet), trial-released, validate-spawned, validate-ready (read-backs not
  // read yet). Scanner (and from validate-* on, reader) attached throughout.
  std::function<void(const std::string &stage, const std::vector<int> &pids)> on_stage;

  // Around the engine, for calibrate_cached alone (calibrate() reads none):
  // the cache's policy and a fleet bundle to try before calibrating.
  bool force = false;           // recalibrate even on a valid cache entry
  bool use_cache = true;        // false: neither read nor write the cache
  std::string bundle;           // a fleet bundle to try before calibrating
  bool bundle_required = false; // the bundle was named explicitly: a bad one is an error
};

} // namespace offsetprobe
