// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of the calibration: the scanner (raw snapshots) and the reader
// (read-back through found offsets), behind a narrow interface. Everything
// here is RAII: destroying a session detaches and unloads its programs.
#pragma once

#include "calibration/read_plan.h"
#include "calibration/snapshot.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

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

// A loaded and attached reader: walks the plan it was loaded with
// (calibration/read_plan.h) from each registered subject's task.
class Reader {
public:
  virtual ~Reader() = default;
  virtual uint32_t add_cookie(const std::string &cookie) = 0;
  // What the plan's steps read for the cookie's slot (captured == false if none).
  virtual ReadValues readback(uint32_t slot) const = 0;
  virtual bool exit_attached() const = 0;
};

// The libbpf reader (bpf/reader.bpf.c through its skeleton).
class ReaderSession : public Reader {
public:
  // Throws Fatal (exit_bpf, exit_permission or exit_tracing) on failure.
  ReaderSession(TriggerMode mode, const ReadPlan &plan);
  ~ReaderSession() override;
  ReaderSession(const ReaderSession &) = delete;
  ReaderSession &operator=(const ReaderSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  ReadValues readback(uint32_t slot) const override;
  bool exit_attached() const override { return exit_attached_; }

private:
  void load(TriggerMode mode);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ReadPlan plan_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

// How a calibration loads its programs: libbpf (prebuilt objects, the
// default) or BCC (compiled at run time, in the separate offsetprobe-bcc).
struct Backend {
  std::string name;
  std::function<std::unique_ptr<Scanner>(TriggerMode, uint32_t nr_chunks)> make_scanner;
  std::function<std::unique_ptr<Reader>(TriggerMode, const ReadPlan &)> make_reader;
  // Stage 2 (pointer chains); may be empty: chain fields are then unresolved.
  std::function<std::unique_ptr<ChainScanner>(TriggerMode, const ChainPlan &,
                                              uint32_t max_subjects)>
      make_chain_scanner;
};

const Backend &libbpf_backend();

} // namespace offsetprobe
