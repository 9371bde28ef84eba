// SPDX-License-Identifier: GPL-2.0-only
// Where `offsetprobe count` gets its offsets: one function, so that the cache
// can take over without touching the command.
#pragma once

#include "offsetprobe/usecases/global_options.h"
#include "opens/file_offsets.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

namespace offsetprobe {

// The two offsets the counting probe reads through.
struct CountOffsets {
  uint32_t group_leader = 0;   // task_struct.group_leader
  uint32_t start_boottime = 0; // task_struct.start_boottime (real_start_time before 5.5)
  // Names from the kernel: the file family's offsets and task_struct.comm,
  // when the cache entry has them all calibrated and validated (count never
  // calibrates the file family itself); else `no_names` says why.
  std::optional<FileWalkOffsets> files;
  uint32_t comm = 0;
  std::string no_names;
};

// The offsets of this kernel, or nullopt when they are not known for sure:
// both fields must be calibrated and have passed the read-back validation.
// There is no default: a missing offset is never replaced by 0 or a guess.
// They come from this kernel's cache entry; when there is no valid entry it
// calibrates (task_struct's own fields) and stores the result first.
// Throws Error when the calibration cannot run (privileges, BPF, signals).
std::optional<CountOffsets> cached_offsets(const GlobalOptions &g,
                                           const std::atomic<int> *stop_signal = nullptr);

} // namespace offsetprobe
