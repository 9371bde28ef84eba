// SPDX-License-Identifier: GPL-2.0-only
#include "counting/syscall_table.h"

#include <algorithm>
#include <sstream>

namespace offsetprobe {

namespace {

#if defined(__x86_64__)
constexpr SyscallEntry kTable[] = {
#include "counting/syscall_table_x86_64.inc"
};
constexpr const char *kArch = "x86_64";
#else
constexpr SyscallEntry kTable[] = {{"", 0}};
constexpr const char *kArch = "";
#endif

} // namespace

std::span<const SyscallEntry> syscall_table() {
  if (kArch[0] == '\0')
    return {};
  return kTable;
}

const char *syscall_table_arch() {
  return kArch;
}

std::optional<uint32_t> syscall_number(std::string_view name) {
  if (name.starts_with("sys_"))
    name.remove_prefix(4);
  for (const auto &e : syscall_table())
    if (e.name == name)
      return e.nr;
  return std::nullopt;
}

std::optional<std::string_view> syscall_name(uint32_t nr) {
  for (const auto &e : syscall_table())
    if (e.nr == nr)
      return e.name;
  return std::nullopt;
}

SyscallSetResult resolve_syscalls(const std::vector<std::string> &args) {
  SyscallSetResult out;
  if (syscall_table().empty()) {
    out.error = "no syscall table for this architecture (x86_64 only)";
    return out;
  }
  SyscallSet set;
  std::vector<std::string> unknown;
  for (const auto &arg : args) {
    std::stringstream ss(arg);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (name.empty())
        continue;
      auto nr = syscall_number(name);
      if (!nr) {
        unknown.push_back(name);
        continue;
      }
      if (std::find(set.nrs.begin(), set.nrs.end(), *nr) != set.nrs.end())
        continue;
      set.nrs.push_back(*nr);
      set.names.emplace_back(*syscall_name(*nr));
    }
  }
  if (!unknown.empty()) {
    out.error = "unknown syscall";
    out.error += unknown.size() > 1 ? "s" : "";
    for (size_t i = 0; i < unknown.size(); i++)
      out.error += (i ? ", " : " ") + unknown[i];
    out.error += std::string(" (no such name in the ") + kArch + " table)";
    return out;
  }
  if (set.nrs.empty()) {
    out.error = "no syscall given";
    return out;
  }
  out.set = std::move(set);
  return out;
}

} // namespace offsetprobe
