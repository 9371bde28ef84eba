// SPDX-License-Identifier: GPL-2.0-only
// Syscall names and numbers of this architecture, from a table in the tree:
// no kernel headers are needed on the target. x86_64 and arm64 each have
// their own numbers; names resolve in the table of the running binary.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace offsetprobe {

struct SyscallEntry {
  std::string_view name;
  uint32_t nr;
};

// The table for the architecture this binary was built for ("x86_64" or
// "arm64"; empty elsewhere). Sorted by number.
std::span<const SyscallEntry> syscall_table();
const char *syscall_table_arch();
// The table of a named architecture ("x86_64", "arm64"), whatever this binary
// runs on; empty for any other name.
std::span<const SyscallEntry> syscall_table_for(std::string_view arch);

std::optional<uint32_t> syscall_number(std::string_view name);
std::optional<std::string_view> syscall_name(uint32_t nr);

// A parsed --syscall list: names in the order given, duplicates removed.
struct SyscallSet {
  std::vector<std::string> names;
  std::vector<uint32_t> nrs;
};

// Resolves NAME[,NAME...] (several arguments are joined). A "sys_" prefix is
// accepted. Returns an error message naming the unknown syscalls, or the set.
struct SyscallSetResult {
  std::optional<SyscallSet> set;
  std::string error;
};
SyscallSetResult resolve_syscalls(const std::vector<std::string> &args);

} // namespace offsetprobe
