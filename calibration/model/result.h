// SPDX-License-Identifier: GPL-2.0-only
// The outcome of a calibration: plain data, shared by the engine, the cache,
// the exports and the consumers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

enum class FieldStatus {
  calibrated,  // exactly one candidate in every trial, and validated
  ambiguous,   // more than one candidate survived: see candidates
  unresolved,  // no candidate, or the experiment could not run: see reason
  not_present, // the kernel has no such field (e.g. no audit): not a failure
};

// macro_name: "task_struct.group_leader" -> "OFFSETPROBE_TASK_STRUCT_GROUP_LEADER", the
// name of a field in the exports (C header, BCC -D flags, env file) and in the
// BCC reader's -D flags.
std::string macro_name(const std::string &field_name);

const char *to_string(FieldStatus s);
std::optional<FieldStatus> field_status_from_string(const std::string &s);

enum class Validation {
  not_run, // never read back (not calibrated, or validation skipped)
  passed,  // the reader program read the known value back through the offset
  failed,  // it read something else: see validation_detail
};

const char *to_string(Validation v);
std::optional<Validation> validation_from_string(const std::string &s);

struct FieldResult {
  std::string name;                 // "task_struct.group_leader"
  std::string struct_name;          // "task_struct"
  std::string member;               // "group_leader" (a path for nested members)
  std::vector<std::string> aliases; // e.g. "real_start_time" for start_boottime
  uint32_t size = 0;                // bytes
  FieldStatus status = FieldStatus::unresolved;
  std::optional<uint32_t> offset;   // set only when calibrated
  std::vector<uint32_t> candidates; // when ambiguous
  std::string reason;               // why ambiguous / unresolved / not present
  uint32_t trials = 0;              // independent trials that agreed
  Validation validation = Validation::not_run;
  std::string validation_detail;
  // False when the experiment for this field could not run on this host (e.g.
  // unshare() or setresuid() refused): it is then reported unresolved with the
  // reason, but does not make the calibration incomplete.
  bool required = true;
  // Ambiguous pointer fields only (pointer_pairs.h): every candidate held the
  // same address in every subject, so the struct behind any candidate is the
  // one the members were found (and read back) in. Which candidate is this
  // field is unknown; a consumer may dereference any of them.
  bool interchangeable = false;
};

// A calibrated field whose read-back failed: no offset is reported, the one
// found stays as its only candidate, and `detail` says what was read.
inline void fail_readback(FieldResult &f, const std::string &detail, const std::string &reason) {
  if (f.offset)
    f.candidates = {*f.offset};
  f.offset.reset();
  f.status = FieldStatus::unresolved;
  f.validation = Validation::failed;
  f.validation_detail = detail;
  f.reason = reason;
}

// The offset to dereference for the fields behind a pointer: its own when
// calibrated, else the first candidate of an interchangeable pair (every
// candidate held the same address in every subject), else none.
inline std::optional<uint32_t> pointer_offset(const FieldResult &f) {
  if (f.status == FieldStatus::calibrated && f.offset)
    return f.offset;
  if (f.status == FieldStatus::ambiguous && f.interchangeable && !f.candidates.empty())
    return f.candidates.front();
  return std::nullopt;
}

struct CalibrationResult {
  std::vector<FieldResult> fields;
  uint32_t trials = 0;                      // trials run
  std::string backend = "libbpf";           // "libbpf" or "bcc"
  std::string trigger;                      // "tracepoint" or "uprobe"
  uint32_t scan_bytes = 0;                  // bytes of task_struct scanned
  std::optional<uint32_t> task_struct_size; // from the slab cache, when known
  double elapsed_ms = 0;
  // "randomized layout detected (EVIDENCE)" when the kernel config or the
  // calibrated fields' order show a shuffled layout (layout_order.h); empty
  // otherwise.
  std::string layout;

  const FieldResult *find(const std::string &name) const;
  // True when every required field is calibrated (or not present) and validated.
  bool complete() const;
};

// Whether this field keeps a result from being complete(): a required field
// not calibrated, or any calibrated field not validated.
bool blocks_complete(const FieldResult &f);

} // namespace offsetprobe
