// SPDX-License-Identifier: GPL-2.0-only
// The net family's raw trials as JSON, for offline replay: what the socket
// scanner captured (bytes, pointees, inum words) and what the subject knew,
// per capture. The matrix writes them from its guests
// (OFFSETPROBE_DUMP_NET_TRIALS, scripts/matrix/fixture.sh) and
// tests/test_net_replay.cpp solves them again against the kernel's BTF.
// Byte arrays are hex strings; kernel addresses are hex strings too, since a
// JSON number above 2^53 loses its low bits in many readers (jq among them).
#pragma once

#include "calibration/solve/net/sock_solver.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::net {

inline constexpr const char *kNetTrialsFormat = "offsetprobe-net-trials/v1";

nlohmann::json trials_to_json(const std::vector<SockTrial> &trials, uint32_t min_trials);

struct NetTrialDump {
  std::vector<SockTrial> trials;
  uint32_t min_trials = 3;
};

// nullopt and `error` on anything malformed (never a half-read dump).
std::optional<NetTrialDump> trials_from_json(const nlohmann::json &j, std::string &error);

// Writes trials_to_json to `path` (whole or not at all: a temporary file
// renamed into place); false and `error` when it cannot.
bool write_trials_file(const std::string &path, const std::vector<SockTrial> &trials,
                       uint32_t min_trials, std::string &error);

} // namespace offsetprobe::net
