// SPDX-License-Identifier: GPL-2.0-only
// offsetprobe export --format json|c-header|bcc-cflags|env
#include "cache/export.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/usecases/cache_common.h"

#include <cstdio>
#include <memory>

namespace offsetprobe {

void register_export(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto *cmd = app.add_subcommand("export", "Print the running kernel's offsets for consumers");
  auto format = std::make_shared<std::string>("json");
  cmd->add_option("-f,--format", *format, "json, c-header, bcc-cflags or env")
      ->check(CLI::IsMember({"json", "c-header", "bcc-cflags", "env"}));
  cmd->callback([&run, &g, format] {
    run = [&g, format] {
      CacheEntry e = load_current_entry(g);
      auto out = render_export(e, *export_format_from_string(*format));
      if (!out)
        throw_cache_error(out.error());
      for (const auto &n : out.value().notes)
        log_info(g, n);
      std::fputs(out.value().text.c_str(), stdout);
      return exit_ok;
    };
  });
}

} // namespace offsetprobe
