// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of the calibration: the scanner (raw snapshots) and the reader
// (read-back through found offsets), behind a narrow interface. Everything
// here is RAII: destroying a session detaches and unloads its programs.
#pragma once

#include "calibration/snapshot.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

struct op_readback;

namespace offsetprobe {

// Where a subject's trigger is caught.
enum class TriggerMode {
  automatic,      // raw_tracepoint, else uprobe
  tracepoint,     // syscalls:sys_enter_getppid (needs tracefs and FTRACE_SYSCALLS)
  raw_tracepoint, // raw sys_enter filtered by syscall number (no tracefs needed)
  uprobe,         // a uprobe on offsetprobe_trigger() in this binary
};

const char *to_string(TriggerMode m);
std::optional<TriggerMode> trigger_mode_from_string(const std::string &s);

// Throws Fatal(exit_permission) naming the missing capability, if any.
void check_bpf_privileges();

// Size of task_struct from the slab cache (sysfs or /proc/slabinfo), if the
// kernel tells. This reads no header and no BTF.
std::optional<uint32_t> slab_task_struct_size();

// The scanner program, loaded and attached. Captures tasks whose comm is one
// of the registered cookies, and nothing else.
class ScannerSession {
public:
  // Throws Fatal (exit_bpf, exit_permission or exit_tracing) on failure.
  ScannerSession(TriggerMode mode, uint32_t nr_chunks);
  ~ScannerSession();
  ScannerSession(const ScannerSession &) = delete;
  ScannerSession &operator=(const ScannerSession &) = delete;

  // Registers a cookie; its captures land in a slot of their own. Returns the slot.
  uint32_t add_cookie(const std::string &cookie);
  // The latest capture of the cookie's slot (captured == false if none).
  Snapshot snapshot(uint32_t slot) const;

  TriggerMode mode() const { return mode_; }
  bool exit_attached() const { return exit_attached_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TriggerMode mode_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

// Offsets the reader uses (unset = not read).
struct ReaderOffsets {
  std::optional<uint32_t> pid, tgid, comm, start_time, start_boottime, group_leader, real_parent,
      parent, exit_code;
};

// What the reader saw for one subject.
struct Readback {
  bool captured = false;
  uint64_t task_addr = 0;
  uint32_t tid = 0, tgid = 0;
  uint32_t ok = 0; // enum op_read_bit
  int32_t pid = 0, tgid_field = 0;
  std::string comm;
  uint64_t start_time = 0, start_boottime = 0;
  uint64_t group_leader = 0, real_parent = 0, parent = 0;
  int32_t exit_code = 0, leader_pid = 0;
  uint64_t leader_start_boottime = 0;
  int32_t real_parent_tgid = 0, parent_pid = 0;
};

class ReaderSession {
public:
  ReaderSession(TriggerMode mode, const ReaderOffsets &offsets);
  ~ReaderSession();
  ReaderSession(const ReaderSession &) = delete;
  ReaderSession &operator=(const ReaderSession &) = delete;

  uint32_t add_cookie(const std::string &cookie);
  Readback readback(uint32_t slot) const;
  bool exit_attached() const { return exit_attached_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

} // namespace offsetprobe
