// SPDX-License-Identifier: GPL-2.0-only
// What one trial of the experiment produced: raw task_struct snapshots of the
// subjects plus the values we know about each. Plain data: the solver's input.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

// An inclusive range of clock values (ns) that a start time must lie in.
struct Window {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool contains(uint64_t v) const { return lo <= v && v <= hi; }
};

// Raw bytes of one task_struct, as the scanner copied them.
struct Snapshot {
  bool captured = false;
  uint64_t task_addr = 0; // kernel address of the task_struct
  uint32_t tid = 0;       // global ids, from bpf_get_current_pid_tgid()
  uint32_t tgid = 0;
  uint32_t chunk_size = 256;
  uint64_t readable = 0; // bit i: chunk i was read
  std::vector<uint8_t> bytes;
  // How the slot was filled, where the backend tells (0: unknown): the hook
  // of the last capture (1 trigger, 2 exit: enum op_capture_site) and how
  // many captures the slot took. Not part of the solver's input.
  uint32_t site = 0;
  uint32_t count = 0;

  // True when [off, off + len) lies in the capture and in readable chunks.
  bool readable_range(uint32_t off, uint32_t len) const {
    if (!captured || len == 0 || uint64_t(off) + len > bytes.size())
      return false;
    for (uint32_t c = off / chunk_size; c <= (off + len - 1) / chunk_size; c++)
      if (c >= 64 || !(readable >> c & 1))
        return false;
    return true;
  }
  template <typename T> T load(uint32_t off) const {
    T v;
    std::memcpy(&v, bytes.data() + off, sizeof(T));
    return v;
  }
};

enum class Role { leader, thread, grandchild, exiter };

// One subject: its snapshot and what we know independently of the snapshot.
struct Subject {
  Role role = Role::leader;
  Snapshot snap;
  std::string comm;                    // the cookie it set with PR_SET_NAME
  std::optional<Window> mono;          // CLOCK_MONOTONIC window around its start
  std::optional<Window> boot;          // CLOCK_BOOTTIME window, host clock domain
  std::optional<uint64_t> start_ticks; // /proc/<pid>/stat field 22, host domain
  std::optional<int32_t> exit_code;    // expected task->exit_code (code << 8)
};

// One independent trial: a leader L, its thread T, a grandchild G forked by L
// (ptraced by T when `traced`), and an exiter E forked by L.
struct Trial {
  Subject leader, thread, grandchild, exiter;
  bool traced = false;     // T PTRACE_SEIZEd G
  std::string trace_error; // why not, when !traced
};

} // namespace offsetprobe
