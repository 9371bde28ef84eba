// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of `offsetprobe opens`: bpf/opens.bpf.c loaded with the
// file family's offsets and attached to the exit tracepoint of every open
// syscall tracefs has, its ring buffer polled. RAII: destroying the session
// frees the ring buffer, detaches the programs and frees the maps.
#pragma once

#include "opens/file_offsets.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace offsetprobe {

struct OpensConfig {
  FileWalkOffsets files;
  uint32_t off_group_leader = 0, off_start_boottime = 0; // the process key, as count's
  uint64_t tick_ns = 10'000'000;
  int64_t boot_offset_ns = 0;
  uint32_t filter_tgid = 0; // 0: every process
  uint32_t self_tgid = 0;   // never reported (our own /proc reads)
  // Inside a pid namespace (counting/counter_session.h nested_pid_namespace):
  // its /proc/self/ns/pid device and inode; tgids are reported as it numbers them.
  std::optional<std::pair<uint64_t, uint64_t>> pidns;
  bool walk_exe = true; // benchmark: false leaves the executable's walk out
  // Syscalls whose sys_exit_<name> tracepoint is attached when tracefs has it
  // (at least one must be there).
  std::vector<std::string> syscalls = {"openat", "open", "openat2", "creat"};
};

struct OpensDrops {
  uint64_t ringbuf = 0;  // the ring buffer was full
  uint64_t other_ns = 0; // the opener is outside our pid namespace
};

// Where a tracepoint's record holds a field, from its format file
// ("field:long ret;\toffset:16;\tsize:8;\tsigned:1;"); nullopt when the file
// or the field is not there.
std::optional<uint32_t> tracepoint_field_offset(const std::string &format_text,
                                                const std::string &field);

class OpensSession {
public:
  using EventFn = std::function<void(const void *data, size_t size)>;
  // Loads and attaches. Throws Error (ErrorKind::permission, ErrorKind::bpf,
  // ErrorKind::tracing) with the step that failed.
  OpensSession(const OpensConfig &cfg, EventFn on_event);
  ~OpensSession();
  OpensSession(const OpensSession &) = delete;
  OpensSession &operator=(const OpensSession &) = delete;

  // Waits up to timeout_ms for events and hands each to on_event. Returns
  // the number handled, or a negative errno (-EINTR on a signal).
  int poll(int timeout_ms);
  // Hands every event already in the ring buffer to on_event.
  void drain();
  void detach();
  OpensDrops drops() const;
  // The tracepoints attached ("syscalls:sys_exit_openat", ...).
  const std::vector<std::string> &attached() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace offsetprobe
