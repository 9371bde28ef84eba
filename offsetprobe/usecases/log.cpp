// SPDX-License-Identifier: GPL-2.0-only
// The use cases' log lines (declared in offsetprobe/usecases/global_options.h):
// on stderr, never stdout, which is for --json and tables.
#include "offsetprobe/usecases/global_options.h"

#include <cstdio>

namespace offsetprobe {

void log_info(const GlobalOptions &g, const std::string &msg) {
  if (g.verbosity >= 0)
    std::fprintf(stderr, "offsetprobe: %s\n", msg.c_str());
}

void log_debug(const GlobalOptions &g, const std::string &msg) {
  if (g.verbosity > 0)
    std::fprintf(stderr, "offsetprobe: %s\n", msg.c_str());
}

void log_warn(const std::string &msg) {
  std::fprintf(stderr, "offsetprobe: warning: %s\n", msg.c_str());
}

} // namespace offsetprobe
