// SPDX-License-Identifier: GPL-2.0-only
// The command-line front end: each command registers itself on the CLI11 app.
#pragma once

#include "calibration/error.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace offsetprobe {

// Options every command sees.
struct GlobalOptions {
  int verbosity = 0;             // -v raises, -q lowers
  std::string cache_dir;         // --cache-dir, else $OFFSETPROBE_CACHE_DIR, else the default
  std::vector<std::string> argv; // the command line, for re-execution in offsetprobe-bcc
};

// A registered command's body; returns the exit code.
using CommandFn = std::function<int()>;

// Each command file defines one of these; main() calls them all.
void register_calibrate(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_verify(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_show(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_export(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_cache(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_bundle(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_count(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_opens(CLI::App &app, GlobalOptions &g, CommandFn &run);
void register_conn(CLI::App &app, GlobalOptions &g, CommandFn &run);

// Log lines go to stderr, never stdout (stdout is for --json and tables).
void log_info(const GlobalOptions &g, const std::string &msg);
void log_debug(const GlobalOptions &g, const std::string &msg);
void log_warn(const std::string &msg);

} // namespace offsetprobe
