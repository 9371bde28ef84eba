// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of the calibration: the scanner (raw snapshots) and the reader
// (read-back through found offsets), behind a narrow interface. Everything
// here is RAII: destroying a session detaches and unloads its programs.
#pragma once

#include "calibration/snapshot.h"

#include <array>
#include <cstdint>
#include <functional>
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

// A loaded and attached scanner: captures the raw task_struct of tasks whose
// comm is one of the registered cookies, and of nothing else. Implemented by
// the libbpf backend (ScannerSession) and by the BCC backend.
class Scanner {
public:
  virtual ~Scanner() = default;
  // Registers a cookie; its captures land in a slot of their own. Returns the slot.
  virtual uint32_t add_cookie(const std::string &cookie) = 0;
  // The latest capture of the cookie's slot (captured == false if none).
  virtual Snapshot snapshot(uint32_t slot) const = 0;
  // The hook the trigger was caught with (never automatic).
  virtual TriggerMode mode() const = 0;
  virtual bool exit_attached() const = 0;
};

// The libbpf scanner (bpf/scanner.bpf.c through its skeleton).
class ScannerSession : public Scanner {
public:
  // Throws Fatal (exit_bpf, exit_permission or exit_tracing) on failure.
  ScannerSession(TriggerMode mode, uint32_t nr_chunks);
  ~ScannerSession() override;
  ScannerSession(const ScannerSession &) = delete;
  ScannerSession &operator=(const ScannerSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  Snapshot snapshot(uint32_t slot) const override;
  TriggerMode mode() const override { return mode_; }
  bool exit_attached() const override { return exit_attached_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TriggerMode mode_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

// A loaded and attached chain scanner. Implemented by the libbpf backend
// (ChainScannerSession) and by the BCC backend; a backend without one leaves
// make_chain_scanner empty and the chain fields are reported unresolved.
class ChainScanner {
public:
  virtual ~ChainScanner() = default;
  virtual uint32_t add_cookie(const std::string &cookie) = 0;
  // The latest capture of the cookie's slot (captured == false if none).
  virtual ChainCapture capture(uint32_t slot) const = 0;
};

// The libbpf chain scanner (bpf/chains.bpf.c through its skeleton).
class ChainScannerSession : public ChainScanner {
public:
  // Throws Fatal (exit_bpf, exit_permission or exit_tracing) on failure;
  // `mode` is the mode the stage-1 scanner attached with (never automatic).
  ChainScannerSession(TriggerMode mode, const ChainPlan &plan, uint32_t max_subjects);
  ~ChainScannerSession() override;
  ChainScannerSession(const ChainScannerSession &) = delete;
  ChainScannerSession &operator=(const ChainScannerSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  ChainCapture capture(uint32_t slot) const override;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ChainPlan plan_;
  uint32_t max_subjects_;
  uint32_t next_slot_ = 0;
};

// Offsets the reader uses (unset = not read).
struct ReaderOffsets {
  std::optional<uint32_t> pid, tgid, comm, start_time, start_boottime, group_leader, real_parent,
      parent, exit_code;
  // Chains. ns_ptr/ns_inum follow kNsKinds' order (calibration/chains.h),
  // cred_ids kCredIds', mm_fields kMmFields'.
  std::optional<uint32_t> real_cred, cred, nsproxy, mm, active_mm, loginuid, sessionid;
  std::array<std::optional<uint32_t>, 8> cred_ids;
  std::array<std::optional<uint32_t>, 7> ns_ptr, ns_inum;
  std::array<std::optional<uint32_t>, 10> mm_fields;
};

// What the reader saw for one subject.
struct Readback {
  bool captured = false;
  uint64_t task_addr = 0;
  uint32_t tid = 0, tgid = 0;
  uint32_t ok = 0;   // enum op_read_bit
  uint32_t site = 0; // enum op_capture_site of the last capture (0: unknown)
  int32_t pid = 0, tgid_field = 0;
  std::string comm;
  uint64_t start_time = 0, start_boottime = 0;
  uint64_t group_leader = 0, real_parent = 0, parent = 0;
  int32_t exit_code = 0, leader_pid = 0;
  uint64_t leader_start_boottime = 0;
  int32_t real_parent_tgid = 0, parent_pid = 0;
  // Chains: chain_ok is enum op_chain_bit; *_ok masks have bit i for element i.
  uint32_t chain_ok = 0;
  uint32_t real_cred_ids_ok = 0, cred_ids_ok = 0, ns_ptr_ok = 0, ns_inum_ok = 0, mm_ok = 0,
           active_mm_ok = 0;
  uint64_t real_cred = 0, cred = 0, nsproxy = 0, mm = 0, active_mm = 0;
  std::array<uint32_t, 8> real_cred_ids{}, cred_ids{};
  std::array<uint64_t, 7> ns_ptr{};
  std::array<uint32_t, 7> ns_inum{};
  std::array<uint64_t, 10> mm_fields{}, active_mm_fields{};
  uint32_t loginuid = 0, sessionid = 0;
};

// A loaded and attached reader: reads registered subjects' fields through
// the offsets it was loaded with.
class Reader {
public:
  virtual ~Reader() = default;
  virtual uint32_t add_cookie(const std::string &cookie) = 0;
  virtual Readback readback(uint32_t slot) const = 0;
  virtual bool exit_attached() const = 0;
};

// The libbpf reader (bpf/reader.bpf.c through its skeleton).
class ReaderSession : public Reader {
public:
  ReaderSession(TriggerMode mode, const ReaderOffsets &offsets);
  ~ReaderSession() override;
  ReaderSession(const ReaderSession &) = delete;
  ReaderSession &operator=(const ReaderSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  Readback readback(uint32_t slot) const override;
  bool exit_attached() const override { return exit_attached_; }

private:
  void load(TriggerMode mode, const ReaderOffsets &offsets);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

// How a calibration loads its programs: libbpf (prebuilt objects, the
// default) or BCC (compiled at run time, in the separate offsetprobe-bcc).
struct Backend {
  std::string name;
  std::function<std::unique_ptr<Scanner>(TriggerMode, uint32_t nr_chunks)> make_scanner;
  std::function<std::unique_ptr<Reader>(TriggerMode, const ReaderOffsets &)> make_reader;
  // Stage 2 (pointer chains); may be empty: chain fields are then unresolved.
  std::function<std::unique_ptr<ChainScanner>(TriggerMode, const ChainPlan &,
                                              uint32_t max_subjects)>
      make_chain_scanner;
};

const Backend &libbpf_backend();

} // namespace offsetprobe
