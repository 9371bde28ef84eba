// SPDX-License-Identifier: GPL-2.0-only
// offsetprobe cache list|remove [BUILD_ID]
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/usecases/cache_common.h"

#include <cstdio>
#include <memory>

namespace offsetprobe {

namespace {

int list(const GlobalOptions &g, bool as_json) {
  CacheStore store = open_store(g);
  auto k = read_kernel_id();
  std::string current = k ? k.value().build_id : "";
  auto items = store.list();
  if (!items) {
    if (items.error().code == CacheErrorCode::not_found && !as_json) {
      std::printf("no cache directory %s: nothing calibrated\n", store.dir().c_str());
      return exit_ok;
    }
    if (items.error().code != CacheErrorCode::not_found)
      throw_cache_error(items.error());
  }
  std::vector<ListedEntry> empty;
  const auto &entries = items ? items.value() : empty;
  if (as_json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto &le : entries) {
      nlohmann::json j = {
          {"build_id", le.build_id}, {"path", le.path}, {"running_kernel", le.build_id == current}};
      if (le.entry) {
        j["valid"] = true;
        j["release"] = le.entry->kernel.release;
        j["calibrated_at"] = le.entry->calibrated_at;
        j["complete"] = le.entry->calibration.complete();
      } else {
        j["valid"] = false;
        j["error"] = reader::to_string(le.error->code);
        j["message"] = le.error->message;
      }
      arr.push_back(j);
    }
    std::fputs(
        (nlohmann::json{{"cache_dir", store.dir()}, {"entries", arr}}.dump(2) + "\n").c_str(),
        stdout);
    return exit_ok;
  }
  std::printf("cache directory: %s\n", store.dir().c_str());
  for (const auto &le : entries) {
    const char *mark = le.build_id == current ? "*" : " ";
    if (le.entry)
      std::printf("%s %s  %s  %s  %s\n", mark, le.build_id.c_str(),
                  le.entry->kernel.release.c_str(), le.entry->calibrated_at.c_str(),
                  le.entry->calibration.complete() ? "complete" : "incomplete");
    else
      std::printf("%s %s  INVALID (%s): %s\n", mark, le.build_id.c_str(),
                  reader::to_string(le.error->code), le.error->message.c_str());
  }
  if (entries.empty())
    std::printf("(no entries)\n");
  else
    std::printf("(* = running kernel)\n");
  return exit_ok;
}

int remove(const GlobalOptions &g, const std::string &id_arg) {
  CacheStore store = open_store(g);
  std::string id = id_arg.empty() ? running_kernel().build_id : id_arg;
  // Under the lock, so a concurrent calibrate does not interleave.
  auto lock = store.lock();
  if (!lock)
    throw_cache_error(lock.error());
  auto r = store.remove(id);
  if (!r) {
    if (r.error().code == CacheErrorCode::schema_invalid)
      throw Error(ErrorKind::usage, r.error().message);
    throw_cache_error(r.error());
  }
  log_info(g, "removed " + r.value());
  return exit_ok;
}

} // namespace

void register_cache(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto *cmd = app.add_subcommand("cache", "List or remove cache entries");
  cmd->require_subcommand(1);
  auto *ls = cmd->add_subcommand("list", "List the entries of the cache directory");
  auto as_json = std::make_shared<bool>(false);
  ls->add_flag("--json", *as_json, "Print the list as JSON");
  ls->callback([&run, &g, as_json] { run = [&g, as_json] { return list(g, *as_json); }; });
  auto *rm = cmd->add_subcommand("remove", "Remove an entry (default: the running kernel's)");
  auto id = std::make_shared<std::string>();
  rm->add_option("BUILD_ID", *id, "Build id of the entry to remove");
  rm->callback([&run, &g, id] { run = [&g, id] { return remove(g, *id); }; });
}

} // namespace offsetprobe
