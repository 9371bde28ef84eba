// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of the calibration: the scanner (raw snapshots) and the reader
// (read-back through found offsets), behind a narrow interface. Everything
// here is RAII: destroying a session detaches and unloads its programs.
#pragma once

#include "calibration/model/read_plan.h"
#include "calibration/model/snapshot.h"
#include "calibration/experiment/trigger.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace offsetprobe {

// Throws Error(ErrorKind::permission) naming the missing capability, if any.
void check_bpf_privileges();

// Size of task_struct from the slab cache (sysfs or /proc/slabinfo), if the
// kernel tells. This reads no header and no BTF.
std::optional<uint32_t> slab_task_struct_size();

// The object size of slab cache `cache` (sysfs, else /proc/slabinfo), if the
// kernel tells and it is at most `max`.
std::optional<uint32_t> slab_object_size(const std::string &cache, uint32_t max);

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

// The scanner (bpf/scanner.bpf.c) on either backend: `load` builds it.
class ScannerSession : public Scanner {
public:
  // Throws Error (ErrorKind::bpf, ErrorKind::permission or ErrorKind::tracing) on failure.
  ScannerSession(const ObjectLoader &load, TriggerMode mode, uint32_t nr_chunks);
  ~ScannerSession() override;
  ScannerSession(const ScannerSession &) = delete;
  ScannerSession &operator=(const ScannerSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  Snapshot snapshot(uint32_t slot) const override;
  TriggerMode mode() const override { return mode_; }
  bool exit_attached() const override { return exit_attached_; }

private:
  std::unique_ptr<LoadedObject> obj_;
  TriggerMode mode_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

// A loaded and attached chain scanner. Implemented by the libbpf backend
// (ChainScannerSession, with either backend's loader); a backend without one leaves
// make_chain_scanner empty and the chain fields are reported unresolved.
class ChainScanner {
public:
  virtual ~ChainScanner() = default;
  virtual uint32_t add_cookie(const std::string &cookie) = 0;
  // The latest capture of the cookie's slot (captured == false if none).
  virtual ChainCapture capture(uint32_t slot) const = 0;
};

// The chain scanner (bpf/chainscan.bpf.c) on either backend: `load` builds it.
class ChainScannerSession : public ChainScanner {
public:
  // Throws Error (ErrorKind::bpf, ErrorKind::permission or ErrorKind::tracing) on failure;
  // `mode` is the mode the stage-1 scanner attached with (never automatic).
  ChainScannerSession(const ObjectLoader &load, TriggerMode mode, const ChainPlan &plan,
                      uint32_t max_subjects);
  ~ChainScannerSession() override;
  ChainScannerSession(const ChainScannerSession &) = delete;
  ChainScannerSession &operator=(const ChainScannerSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  ChainCapture capture(uint32_t slot) const override;

private:
  ChainPlan plan_;
  uint32_t max_subjects_;
  std::unique_ptr<LoadedObject> obj_;
  uint32_t next_slot_ = 0;
};

// A loaded and attached reader: walks the plan it was loaded with
// (calibration/model/read_plan.h) from each registered subject's task.
class Reader {
public:
  virtual ~Reader() = default;
  virtual uint32_t add_cookie(const std::string &cookie) = 0;
  // What the plan's steps read for the cookie's slot (captured == false if none).
  virtual ReadValues readback(uint32_t slot) const = 0;
  virtual bool exit_attached() const = 0;
};

// The reader (bpf/reader.bpf.c) on either backend: `load` builds it.
class ReaderSession : public Reader {
public:
  // Builds the reader with `load` from reader_spec(plan) and attaches its
  // hooks. Throws Error (ErrorKind::bpf, ErrorKind::permission or ErrorKind::tracing) on
  // failure.
  ReaderSession(const ObjectLoader &load, TriggerMode mode, const ReadPlan &plan);
  ~ReaderSession() override;
  ReaderSession(const ReaderSession &) = delete;
  ReaderSession &operator=(const ReaderSession &) = delete;

  uint32_t add_cookie(const std::string &cookie) override;
  ReadValues readback(uint32_t slot) const override;
  bool exit_attached() const override { return exit_attached_; }

private:
  ReadPlan plan_;
  std::unique_ptr<LoadedObject> obj_;
  bool exit_attached_ = false;
  uint32_t next_slot_ = 0;
};

// The programs of the scanner, the chain scanner and the reader
// (bpf/NAME.bpf.c) that catch a trigger or an exit.
extern const TriggerHooks kScannerHooks, kChainscanHooks, kReaderHooks;

// The scanner's spec: how many 256 B chunks of task_struct to read.
ProgramSpec scanner_spec(uint32_t nr_chunks);

// The chain scanner's spec: the plan's offsets, and its records (one a subject).
ProgramSpec chainscan_spec(const ChainPlan &plan, uint32_t max_subjects);

// The reader's spec: the plan's steps (rodata for libbpf; for BCC -D macros,
// each step's offset under its field's export name, as `export --format
// bcc-cflags` names it). Throws Error(ErrorKind::failure) when one field comes
// with two offsets.
ProgramSpec reader_spec(const ReadPlan &plan);

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
  // The net family's socket scanner (bpf/sockscan.bpf.c); may be empty: the
  // net fields are then unresolved.
  ObjectLoader sockscan;
};

const Backend &libbpf_backend();

// The calibration's programs that load from a ProgramSpec on either backend.
enum class Program { scanner, chainscan, reader };

// The libbpf loader of `p`: its object as built (the skeleton's ELF).
ObjectLoader libbpf_loader(Program p);

} // namespace offsetprobe
