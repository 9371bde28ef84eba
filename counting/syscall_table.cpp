// SPDX-License-Identifier: GPL-2.0-only
#include "counting/syscall_table.h"

#include <algorithm>
#include <sstream>

namespace offsetprobe {

namespace {

// Both tables are in every binary: the native one serves --syscall, and the
// other stays testable on any host (tests/test_syscall_table.cpp).
constexpr SyscallEntry kX86_64[] = {
#include "counting/syscall_table_x86_64.inc"
};
constexpr SyscallEntry kArm64[] = {
#include "counting/syscall_table_arm64.inc"
};

// The architecture this binary runs on: syscall numbers are per architecture
// (x86_64 has its own table, arm64 the generic asm-generic/unistd.h one).
#if defined(__x86_64__)
constexpr const char *kArch = "x86_64";
#elif defined(__aarch64__)
constexpr const char *kArch = "arm64";
#else
constexpr const char *kArch = "";
#endif

} // namespace

std::span<const SyscallEntry> syscall_table_for(std::string_view arch) {
  if (arch == "x86_64")
    return kX86_64;
  if (arch == "arm64")
    return kArm64;
  return {};
}

std::span<const SyscallEntry> syscall_table() {
  return syscall_table_for(kArch);
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
    out.error = "no syscall table for this architecture (x86_64 and arm64 only)";
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
