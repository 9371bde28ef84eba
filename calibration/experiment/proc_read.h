// SPDX-License-Identifier: GPL-2.0-only
// Readers of /proc: what the experiment knows about its subjects and about
// the calibrator's own clocks, independently of any capture. Each returns
// nullopt (or nothing) when the file is missing or malformed.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

// Time namespace offsets of this process (0 outside a time namespace).
struct TimeNsOffsets {
  int64_t monotonic_ns = 0;
  int64_t boottime_ns = 0;
};
TimeNsOffsets read_timens_offsets();

// /proc/<pid>/stat field 22 (start time in USER_HZ ticks), or nullopt.
std::optional<uint64_t> read_start_ticks(const std::string &stat_path);

// /proc/<pid>/stat's mm layout fields, in kMmFields order, or nullopt.
std::optional<std::array<uint64_t, 10>> read_mm_stat(const std::string &stat_path);

// /proc/<pid>/status Uid:/Gid: lines as struct cred's ids (kCredIds order).
std::optional<std::array<uint32_t, 8>> read_cred_ids(const std::string &status_path);

// Fields 3.. of /proc/<pid>/stat (after the comm's last ')'), or empty.
std::vector<std::string> stat_fields(const std::string &stat_path);

// A file holding one unsigned 32-bit number (/proc/<pid>/loginuid).
std::optional<uint32_t> read_u32_file(const std::string &path);

// Inode numbers of /proc/<pid>/ns/* (ns_common.inum), for the kinds present.
std::map<std::string, uint32_t> read_ns_inums(int pid);

} // namespace offsetprobe
