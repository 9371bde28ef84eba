// SPDX-License-Identifier: GPL-2.0-only
// OFFSETPROBE_TIMING=1: where the milliseconds go, one line per step on
// stderr ("offsetprobe: <scope> +<ms since t0> ms <step>").
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace offsetprobe {

inline void timing_mark(const char *scope, std::chrono::steady_clock::time_point t0,
                        const char *what) {
  static const bool on = getenv("OFFSETPROBE_TIMING") != nullptr;
  if (on)
    std::fprintf(
        stderr, "offsetprobe: %s%s%8.2f ms %s\n", scope, *scope ? " +" : "",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
        what);
}

} // namespace offsetprobe
