// SPDX-License-Identifier: GPL-2.0-only
#include "offsetprobe/cli.h"
#include "offsetprobe/exit_codes.h"

namespace offsetprobe {

void register_verify(CLI::App &app, GlobalOptions &, CommandFn &run) {
  auto *cmd = app.add_subcommand("verify", "(being built)");
  cmd->callback([&run] {
    run = [] {
      throw Fatal(exit_failure, "verify is not built yet");
      return 0;
    };
  });
}

} // namespace offsetprobe
