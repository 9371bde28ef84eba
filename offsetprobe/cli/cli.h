// SPDX-License-Identifier: GPL-2.0-only
// The command-line front end: each command registers itself on the CLI11 app.
#pragma once

#include "calibration/model/error.h"
#include "offsetprobe/cli/exit_codes.h"
#include "offsetprobe/usecases/global_options.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace offsetprobe {

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
void register_fields(CLI::App &app, GlobalOptions &g, CommandFn &run);

} // namespace offsetprobe
