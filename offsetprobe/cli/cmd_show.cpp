// SPDX-License-Identifier: GPL-2.0-only
// offsetprobe show [--json]: this kernel's cache entry.
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/usecases/cache_common.h"

#include <cstdio>
#include <memory>

namespace offsetprobe {

namespace {

int show(const GlobalOptions &g, bool as_json) {
  CacheEntry e = load_current_entry(g);
  if (as_json) {
    std::fputs((to_json(e).dump(2) + "\n").c_str(), stdout);
    return exit_ok;
  }
  const auto &k = e.kernel;
  std::printf("kernel:     %s %s\n", k.release.c_str(), k.machine.c_str());
  std::printf("build id:   %s (%s)\n", k.build_id.c_str(), k.source());
  std::printf("calibrated: %s by %s %s (%s, %u trials)\n", e.calibrated_at.c_str(),
              e.tool_name.c_str(), e.tool_version.c_str(), e.calibration.backend.c_str(),
              e.calibration.trials);
  std::printf("complete:   %s\n\n", e.calibration.complete() ? "yes" : "no");
  std::printf("%-32s %7s %5s %-12s %-10s %s\n", "FIELD", "OFFSET", "SIZE", "STATUS", "VALIDATION",
              "NOTE");
  for (const auto &f : e.calibration.fields) {
    std::string off = f.offset ? std::to_string(*f.offset) : "-";
    std::string note = f.reason;
    if (!f.aliases.empty()) {
      note = "aka";
      for (const auto &a : f.aliases)
        note += " " + a;
      if (!f.reason.empty())
        note += "; " + f.reason;
    }
    if (!f.validation_detail.empty())
      note += (note.empty() ? "" : "; ") + f.validation_detail;
    std::printf("%-32s %7s %5u %-12s %-10s %s\n", f.name.c_str(), off.c_str(), f.size,
                to_string(f.status), to_string(f.validation), note.c_str());
  }
  return exit_ok;
}

} // namespace

void register_show(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto *cmd = app.add_subcommand("show", "Show the cached offsets of the running kernel");
  auto as_json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *as_json, "Print the cache entry as JSON");
  cmd->callback([&run, &g, as_json] { run = [&g, as_json] { return show(g, *as_json); }; });
}

} // namespace offsetprobe
