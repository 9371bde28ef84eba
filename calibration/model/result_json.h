// SPDX-License-Identifier: GPL-2.0-only
// JSON form of a CalibrationResult (the "calibration" object of a cache entry
// and the output of `calibrate --json`).
#pragma once

#include "calibration/model/result.h"

#include <nlohmann/json.hpp>

#include <string>

namespace offsetprobe {

nlohmann::json to_json(const FieldResult &f);
nlohmann::json to_json(const CalibrationResult &r);

// Strict parse: every field is type-checked and range-checked; anything off
// is reported in `error` and nothing is returned. Never throws.
std::optional<FieldResult> field_from_json(const nlohmann::json &j, std::string &error);
std::optional<CalibrationResult> calibration_from_json(const nlohmann::json &j, std::string &error);

// Largest offset any reader accepts: no struct we read is anywhere near 64 KiB.
inline constexpr uint32_t kMaxSaneOffset = 65536;

} // namespace offsetprobe
