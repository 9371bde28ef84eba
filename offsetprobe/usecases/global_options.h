// SPDX-License-Identifier: GPL-2.0-only
// What every use case is given by the command line (its global options), and
// the log lines it writes: on stderr, never stdout (stdout is for --json and
// tables). The command-line edge (offsetprobe/cli/) fills GlobalOptions.
#pragma once

#include <string>
#include <vector>

namespace offsetprobe {

// Options every command sees.
struct GlobalOptions {
  int verbosity = 0;             // -v raises, -q lowers
  std::string cache_dir;         // --cache-dir, else $OFFSETPROBE_CACHE_DIR, else the default
  std::vector<std::string> argv; // the command line, for re-execution in offsetprobe-bcc
};

void log_info(const GlobalOptions &g, const std::string &msg);
void log_debug(const GlobalOptions &g, const std::string &msg);
void log_warn(const std::string &msg);

} // namespace offsetprobe
