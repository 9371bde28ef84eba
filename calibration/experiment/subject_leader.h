// SPDX-License-Identifier: GPL-2.0-only
// Inside the subject processes (calibration/experiment/subject.h): what the subject
// host (subject_host_main.cpp) and the leaders it forks (subject.cpp) share.
// Internal to those two units.
#pragma once

#include "calibration/model/snapshot.h"
#include "calibration/experiment/subject.h"

#include <cerrno>
#include <cstdint>
#include <ctime>

#include <unistd.h>

namespace offsetprobe {

inline uint64_t now_ns(clockid_t clk) {
  timespec ts{};
  clock_gettime(clk, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// Both clocks, read before (lo) and after (hi) an event that starts a task.
struct ClockPair {
  Window mono, boot;
  void begin() {
    mono.lo = now_ns(CLOCK_MONOTONIC);
    boot.lo = now_ns(CLOCK_BOOTTIME);
  }
  void end() {
    // copy_process() reads the monotonic clock first, then the boottime
    // clock; reading ours in the opposite order keeps both inside.
    boot.hi = now_ns(CLOCK_BOOTTIME);
    mono.hi = now_ns(CLOCK_MONOTONIC);
  }
};

inline void write_byte(int fd) {
  char c = 'x';
  while (write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

// The leader L of one trial, in the process the host forked for it: runs the
// experiment, writes its report to `out`, then serves its control pipe
// `ctl` until EOF and cleans up. Never returns.
[[noreturn]] void run_leader(int index, const Cookies &c, int exit_status, const CredPlan &plan,
                             bool hold, int ctl, int out);

} // namespace offsetprobe
