// SPDX-License-Identifier: GPL-2.0-only
// What the live commands (count, conn, opens) share at the command-line
// edge: a clock reading in ns, and the tgid behind a --pid argument.
#pragma once

#include "calibration/model/error.h"
#include "offsetprobe/cli/exit_codes.h"

#include <cstdint>
#include <ctime>
#include <csignal>
#include <fstream>
#include <string>

namespace offsetprobe {

inline int64_t now_ns(clockid_t clk) {
  timespec ts{};
  clock_gettime(clk, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The tgid of PID (which may name a thread), as /proc/PID/status says.
inline uint32_t tgid_of(uint32_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  if (!f)
    throw Error(ErrorKind::usage, "--pid " + std::to_string(pid) + ": no such process");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("Tgid:"))
      return static_cast<uint32_t>(std::stoul(line.substr(5)));
  throw Error(ErrorKind::failure, "/proc/" + std::to_string(pid) + "/status has no Tgid line");
}

// The exit status of a live command stopped by `sig` (0: it ran out).
inline int exit_for_signal(int sig) {
  if (sig == SIGINT)
    return exit_interrupted;
  if (sig == SIGTERM || sig == SIGHUP)
    return exit_terminated;
  return exit_ok;
}

} // namespace offsetprobe
