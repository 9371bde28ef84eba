// SPDX-License-Identifier: GPL-2.0-only
// JSON form of raw trials (snapshots + known values): `calibrate
// --dump-snapshots` writes it, the matrix stores it as offline fixtures, and
// the solver's replay tests read it back. A calibration with chains adds C,
// N, the chain stage's known values and its captures (optional keys: a dump
// without them reads back as one without chains).
#pragma once

#include "calibration/model/snapshot.h"
#include "calibration/model/solve_options.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

struct TrialDump {
  std::vector<Trial> trials;
  SolveOptions options;
};

nlohmann::json to_json(const TrialDump &d);
// Strict; returns nullopt with `error` set on anything malformed.
std::optional<TrialDump> trial_dump_from_json(const nlohmann::json &j, std::string &error);

} // namespace offsetprobe
