// SPDX-License-Identifier: GPL-2.0-only
// What one trial of the experiment produced: raw task_struct snapshots of the
// subjects plus the values we know about each. Plain data: the solver's input.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
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

// The bytes one and two pointers away from a subject's task, as the chain
// scanner (stage 2) copied them. Each Snapshot's task_addr is the address the
// pointer held (0: null, unreadable, or not a kernel pointer: not followed).
struct ChainCapture {
  bool captured = false;
  std::vector<uint32_t> ptr_offsets; // task_struct offsets followed (the load-time plan)
  std::vector<Snapshot> pointees;    // [i]: the struct at *(task + ptr_offsets[i])
  std::vector<uint32_t> nested_of;   // [n]: index into ptr_offsets followed one level further
  // [n][j]: the struct at *(pointees[nested_of[n]] + 8 * j)
  std::vector<std::vector<Snapshot>> nested;
};

// What the chain scanner (stage 2) follows from each subject's task: the
// task_struct offsets of candidate pointers, and which of those (indexes into
// ptr_offsets) it follows one level further, word by word (the candidates
// of a pointer to a struct of pointers: ChainRule::shared_until_unshare).
// Both come from stage-1 snapshots, never from an address.
struct ChainPlan {
  std::vector<uint32_t> ptr_offsets; // at most OP_MAX_PTRS
  std::vector<uint32_t> nested_of;   // at most OP_MAX_NESTED
};

enum class Role { leader, thread, grandchild, exiter, creds, unshared };

// /proc/<pid>/stat's memory-layout fields, in mm_struct's declaration order
// (start_brk's twin brk is not in /proc, so it is not calibrated).
inline constexpr std::array<const char *, 10> kMmFields = {
    "start_code",  "end_code",  "start_data", "end_data",  "start_brk",
    "start_stack", "arg_start", "arg_end",    "env_start", "env_end"};
// Their 1-based field numbers in /proc/<pid>/stat (proc(5)).
inline constexpr std::array<int, 10> kMmStatFields = {26, 27, 45, 46, 47, 28, 48, 49, 50, 51};

// struct cred's ids, in declaration order.
inline constexpr std::array<const char *, 8> kCredIds = {"uid",  "gid",  "suid",  "sgid",
                                                         "euid", "egid", "fsuid", "fsgid"};

// One subject: its snapshot and what we know independently of the snapshot.
struct Subject {
  Role role = Role::leader;
  Snapshot snap;
  std::string comm;                    // the cookie it set with PR_SET_NAME
  std::optional<Window> mono;          // CLOCK_MONOTONIC window around its start
  std::optional<Window> boot;          // CLOCK_BOOTTIME window, host clock domain
  std::optional<uint64_t> start_ticks; // /proc/<pid>/stat field 22, host domain
  // E's exit status as wait(2) reports it, W_EXITCODE(status, 0), when it
  // was seen at its exit.
  std::optional<int32_t> wait_status;
  // Chain stage: known values behind pointers, read from /proc while it lived.
  std::optional<std::array<uint32_t, 8>> cred_ids; // kCredIds order (/proc/<pid>/status)
  std::optional<uint32_t> loginuid, sessionid;     // /proc/<pid>/loginuid, sessionid
  std::map<std::string, uint32_t> ns_inum;         // "uts" -> inode of /proc/<pid>/ns/uts
  std::optional<std::array<uint64_t, 10>> mm;      // kMmFields order (/proc/<pid>/stat)
  // Known values a family read for its own fields (Family::observe), by
  // field name ("struct.member"), as the family defines them.
  std::map<std::string, int64_t> known;
  ChainCapture chain; // stage 2 capture
};

// One independent trial: a leader L, its thread T, a grandchild G forked by L
// (ptraced by T when `traced`), an exiter E forked by L, C forked by L with
// distinct ids and a loginuid, N forked by L in new namespaces.
struct Trial {
  Subject leader, thread, grandchild, exiter, creds, unshared;
  bool traced = false;     // T PTRACE_SEIZEd G
  std::string trace_error; // why not, when !traced
  // "" when the step worked, else "what:ERRNO[,...]".
  std::string creds_error, loginuid_error, unshare_error;
};

} // namespace offsetprobe
