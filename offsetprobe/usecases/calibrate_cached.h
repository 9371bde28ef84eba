// SPDX-License-Identifier: GPL-2.0-only
// Calibration through the cache: what `offsetprobe calibrate` does, and what
// `offsetprobe count` uses when it needs offsets.
#pragma once

#include "cache/store.h"
#include "calibration/experiment/calibrator.h"
#include "offsetprobe/usecases/global_options.h"

#include <atomic>
#include <optional>
#include <string>

namespace offsetprobe {

struct CalibrateOutcome {
  CacheEntry entry;
  std::string source;              // "cache", "bundle", "bundle+calibrated" or "calibrated"
  std::optional<std::string> path; // where the entry is stored, if it is
  std::optional<Calibration> raw;  // the trials, when calibrated here
};

// Installs SIGINT/SIGTERM/SIGHUP handlers that stop a calibration cleanly;
// returns the flag they set.
const std::atomic<int> *install_stop_handlers();

// The entry of the running kernel: from the cache when it holds a valid,
// complete entry (unless force); otherwise, under the cache lock, from the
// bundle when its offsets pass the read-back here; otherwise from a fresh
// calibration. Only a complete, validated result is written to the cache,
// atomically. `opt` is the command's options whole: the engine's part and
// the cache's policy (force, use_cache, bundle). Throws Error on errors
// (cache, privileges, BPF, subjects, signals).
CalibrateOutcome calibrate_cached(const GlobalOptions &g, const CalibrateOptions &opt);

} // namespace offsetprobe
