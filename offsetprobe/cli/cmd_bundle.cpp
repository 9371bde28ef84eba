// SPDX-License-Identifier: GPL-2.0-only
// offsetprobe bundle create -o OUT FILES...: merge entries of many kernels.
#include "cache/bundle.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/usecases/cache_common.h"

#include <memory>

namespace offsetprobe {

void register_bundle(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto *cmd = app.add_subcommand("bundle", "Fleet bundles of cache entries");
  cmd->require_subcommand(1);
  auto *create = cmd->add_subcommand("create", "Merge cache entries and bundles into one bundle");
  auto out = std::make_shared<std::string>();
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto format = std::make_shared<std::string>("v2");
  create->add_option("-o,--output", *out, "Bundle file to write")->required();
  create
      ->add_option("--format", *format,
                   "v2 (default): each distinct layout stored once; v1: one full entry per "
                   "build, for readers older than v2")
      ->check(CLI::IsMember({"v1", "v2"}));
  create->add_option("FILES", *inputs, "Cache entries (<build id>.json) or bundles")
      ->required()
      ->check(CLI::ExistingFile);
  create->callback([&run, &g, out, inputs, format] {
    run = [&g, out, inputs, format] {
      std::vector<std::string> notes;
      auto b = bundle_merge(*inputs, notes);
      for (const auto &n : notes)
        log_debug(g, n);
      if (!b)
        throw_cache_error(b.error());
      std::size_t builds = b.value()["entries"].size();
      nlohmann::json doc = *format == "v1" ? b.value() : bundle_compact(b.value());
      auto w = bundle_write(doc, *out);
      if (!w)
        throw_cache_error(w.error());
      std::string layouts = doc.contains("layouts")
                                ? ", " + std::to_string(doc["layouts"].size()) + " layout(s)"
                                : "";
      log_info(g, "wrote " + w.value() + " with " + std::to_string(builds) + " kernel build(s)" +
                      layouts);
      return exit_ok;
    };
  });
}

} // namespace offsetprobe
