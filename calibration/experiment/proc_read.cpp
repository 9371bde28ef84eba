// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/proc_read.h"

#include "calibration/families/ns.h"
#include "calibration/model/snapshot.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace offsetprobe {

TimeNsOffsets read_timens_offsets() {
  TimeNsOffsets out;
  std::ifstream f("/proc/self/timens_offsets");
  std::string name;
  int64_t sec = 0, nsec = 0;
  while (f >> name >> sec >> nsec) {
    int64_t ns = sec * 1'000'000'000 + nsec;
    if (name == "monotonic")
      out.monotonic_ns = ns;
    else if (name == "boottime")
      out.boottime_ns = ns;
  }
  return out;
}

std::optional<uint64_t> read_start_ticks(const std::string &stat_path) {
  std::ifstream f(stat_path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = s.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream is(s.substr(close + 1));
  std::string tok;
  // Field 3 is the first after ')'; field 22 is the 20th.
  for (int field = 3; field <= 22; field++)
    if (!(is >> tok))
      return std::nullopt;
  try {
    return std::stoull(tok);
  } catch (...) {
    return std::nullopt;
  }
}

// Fields 3.. of /proc/<pid>/stat (after the comm's last ')'), or empty.
std::vector<std::string> stat_fields(const std::string &stat_path) {
  std::ifstream f(stat_path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = s.rfind(')');
  std::vector<std::string> out;
  if (close == std::string::npos)
    return out;
  std::istringstream is(s.substr(close + 1));
  std::string tok;
  while (is >> tok)
    out.push_back(tok);
  return out;
}

std::optional<uint32_t> read_u32_file(const std::string &path) {
  std::ifstream f(path);
  uint64_t v = 0;
  if (!(f >> v) || v > UINT32_MAX)
    return std::nullopt;
  return static_cast<uint32_t>(v);
}

// Inode numbers of /proc/<pid>/ns/* (ns_common.inum), for the kinds present.
std::map<std::string, uint32_t> read_ns_inums(int pid) {
  std::map<std::string, uint32_t> out;
  for (const auto &k : kNsKinds) {
    struct stat st {};
    std::string path = "/proc/" + std::to_string(pid) + "/ns/" + k.proc;
    if (::stat(path.c_str(), &st) == 0)
      out[k.proc] = static_cast<uint32_t>(st.st_ino);
  }
  return out;
}

std::optional<std::array<uint64_t, 10>> read_mm_stat(const std::string &stat_path) {
  auto f = stat_fields(stat_path);
  std::array<uint64_t, 10> out{};
  for (size_t i = 0; i < kMmStatFields.size(); i++) {
    size_t at = static_cast<size_t>(kMmStatFields[i] - 3); // f[0] is field 3
    if (at >= f.size())
      return std::nullopt;
    try {
      out[i] = std::stoull(f[at]);
    } catch (...) {
      return std::nullopt;
    }
  }
  // An unprivileged reader sees zeros (or 1 for the code range): useless.
  if (out[0] <= 1 || out[7] == 0)
    return std::nullopt;
  return out;
}

std::optional<std::array<uint32_t, 8>> read_cred_ids(const std::string &status_path) {
  std::ifstream f(status_path);
  std::string line;
  uint32_t uid[4], gid[4];
  unsigned seen = 0;
  while (std::getline(f, line)) {
    uint32_t *dst = line.rfind("Uid:", 0) == 0 ? uid : line.rfind("Gid:", 0) == 0 ? gid : nullptr;
    if (!dst)
      continue;
    std::istringstream is(line.substr(4));
    if (is >> dst[0] >> dst[1] >> dst[2] >> dst[3])
      seen |= dst == uid ? 1 : 2;
  }
  if (seen != 3)
    return std::nullopt;
  // real, effective, saved, fs -> uid gid suid sgid euid egid fsuid fsgid
  return std::array<uint32_t, 8>{uid[0], gid[0], uid[2], gid[2], uid[1], gid[1], uid[3], gid[3]};
}

} // namespace offsetprobe
