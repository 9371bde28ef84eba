// SPDX-License-Identifier: GPL-2.0-only
// The ns family's data shared with the subjects' /proc reader
// (calibration/experiment/proc_read.cpp) and the tests: the namespace kinds.
#pragma once

#include <array>

namespace offsetprobe {

// A namespace nsproxy points to: the /proc/<pid>/ns link that gives its
// inode, nsproxy's member, and the struct that embeds `struct ns_common ns`.
struct NsKind {
  const char *proc;
  const char *member;
  const char *struct_name;
};
inline constexpr std::array<NsKind, 7> kNsKinds = {{
    {"uts", "uts_ns", "uts_namespace"},
    {"ipc", "ipc_ns", "ipc_namespace"},
    {"mnt", "mnt_ns", "mnt_namespace"},
    {"pid_for_children", "pid_ns_for_children", "pid_namespace"},
    {"net", "net_ns", "net"},
    {"time", "time_ns", "time_namespace"},
    {"cgroup", "cgroup_ns", "cgroup_namespace"},
}};

} // namespace offsetprobe
