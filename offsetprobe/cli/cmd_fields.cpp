// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe fields [FAMILY|FIELD ...]`: the field catalogue as this binary
// knows it (what --fields can ask for), without root and without a kernel.
#include "calibration/model/catalogue.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/cli/table.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

namespace offsetprobe {

namespace {

std::string joined(const std::vector<std::string> &v, const char *sep) {
  std::string s;
  for (const auto &x : v)
    s += (s.empty() ? "" : sep) + x;
  return s;
}

int list_fields(const std::vector<std::string> &wanted, bool as_json) {
  // Each name is a family or a field of the catalogue; anything else is a
  // usage error, named.
  std::set<std::string> families, names;
  for (const auto &w : wanted) {
    if (find_family(w))
      families.insert(w);
    else if (find_field(w))
      names.insert(w);
    else
      throw Error(ErrorKind::usage, "no family or field named '" + w +
                                        "' in the catalogue (offsetprobe fields lists them)");
  }
  auto selected = [&](const Family &fam, const FieldDef &f) {
    return wanted.empty() || families.count(fam.name) || names.count(f.name());
  };
  nlohmann::json out = nlohmann::json::array();
  Table t({"FAMILY", "FIELD", "SIZE", "REQUIRED", "REACHED THROUGH"});
  for (const auto &fam : catalogue())
    for (const auto &f : fam.fields) {
      if (!selected(fam, f))
        continue;
      if (as_json) {
        out.push_back(
            {{"family", fam.name},
             {"name", f.name()},
             {"struct", f.struct_name},
             {"member", f.member},
             {"size", f.size},
             {"required", f.required},
             {"via", f.via},
             {"absent", f.absent.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.absent)}});
      } else {
        t.add({fam.name, f.name(), std::to_string(f.size), f.required ? "yes" : "no",
               f.via.empty() ? "-" : joined(f.via, " or ")});
      }
    }
  if (as_json)
    std::cout << out.dump(2) << std::endl;
  else
    t.print(stdout);
  return exit_ok;
}

} // namespace

void register_fields(CLI::App &app, GlobalOptions &, CommandFn &run) {
  struct Args {
    bool json = false;
    std::vector<std::string> wanted;
  };
  auto args = std::make_shared<Args>();
  auto *cmd = app.add_subcommand(
      "fields", "List the catalogue's fields (what calibrate --fields can ask for), by family");
  cmd->add_flag("--json", args->json, "Print them as a JSON array");
  cmd->add_option("names", args->wanted, "Only these families or fields (default: all)");
  cmd->callback([args, &run] { run = [args] { return list_fields(args->wanted, args->json); }; });
}

} // namespace offsetprobe
