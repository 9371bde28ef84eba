// SPDX-License-Identifier: GPL-2.0-only
// Recorded captures of the file family's experiment, for offline replay: the
// subjects' known values and every walk request with its answer. The solver
// is deterministic, so replaying a record asks exactly the recorded requests.
#pragma once

#include "calibration/solve/files/known.h"
#include "calibration/solve/files/solve.h"
#include "calibration/solve/files/walk.h"

#include <nlohmann/json.hpp>

#include <map>

namespace offsetprobe::files {

nlohmann::json to_json(const TrialKnown &t);
TrialKnown trial_from_json(const nlohmann::json &j);

// Forwards to `inner` and keeps every answer.
class RecordingMemory : public Memory {
public:
  explicit RecordingMemory(Memory &inner) : inner_(inner) {}
  std::vector<WalkResponse> walk(int subject, const std::vector<WalkRequest> &reqs) override;
  nlohmann::json to_json() const;

private:
  Memory &inner_;
  std::map<int, std::map<std::string, WalkResponse>> seen_;
};

// Answers from a record; a request not in it comes back not done (all bytes
// unreadable), as a walk the kernel never served.
class ReplayMemory : public Memory {
public:
  explicit ReplayMemory(const nlohmann::json &record);
  std::vector<WalkResponse> walk(int subject, const std::vector<WalkRequest> &reqs) override;
  size_t misses() const { return misses_; }

private:
  std::map<int, std::map<std::string, WalkResponse>> seen_;
  size_t misses_ = 0;
};

// A whole capture: {"config", "trials", "validation", "memory"}.
struct FilesCapture {
  SolveConfig config;
  std::vector<TrialKnown> trials; // solved
  std::optional<TrialKnown> validation;
  nlohmann::json memory;
};
nlohmann::json to_json(const FilesCapture &c);
FilesCapture capture_from_json(const nlohmann::json &j);

// Gzip'd JSON files of captures. Throw std::runtime_error on failure.
void write_capture(const std::string &path, const FilesCapture &c);
FilesCapture read_capture(const std::string &path);

} // namespace offsetprobe::files
