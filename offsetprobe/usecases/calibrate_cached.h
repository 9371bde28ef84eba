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

// What a command asks of calibrate_cached: the engine's own options, as
// calibrate() takes them (trials, trigger, timeout, validation, --fields,
// backend), and the cache's policy around them. calibrate_cached adds the
// stop flag and the test stage hook to the engine's options.
struct CalibrateRequest {
  CalibrateOptions engine;
  bool force = false;           // recalibrate even on a valid cache entry
  bool use_cache = true;        // false: neither read nor write the cache
  std::string bundle;           // a fleet bundle to try before calibrating
  bool bundle_required = false; // the bundle was named explicitly: a bad one is an error
};

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
// atomically. Throws Fatal on errors (cache, privileges, BPF, subjects,
// signals).
CalibrateOutcome calibrate_cached(const GlobalOptions &g, const CalibrateRequest &req);

} // namespace offsetprobe
