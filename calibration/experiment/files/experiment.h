// SPDX-License-Identifier: GPL-2.0-only
// The file family's experiment, whole: subjects, walker, solver, read-back.
#pragma once

#include "calibration/solve/files/record.h"
#include "calibration/experiment/teardown.h"
#include "calibration/model/result.h"

#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {
struct CalibrateOptions;
struct Backend;
} // namespace offsetprobe

namespace offsetprobe::files {

struct FilesOptions {
  uint32_t trials = 3;
  uint32_t timeout_ms = 10'000;
  bool validate = true;
  std::optional<uint32_t> task_bytes;      // task_struct's size, when known (slab)
  std::optional<uint32_t> mm_bytes;        // mm_struct's size, when known (slab)
  std::string kernel_release;              // uname -r: the size of the embedded vfsmount
  std::string self_exe = "/proc/self/exe"; // this binary: run as the files subject
};

// Runs the experiment and returns the family's fields, each calibrated and
// read back, or unresolved/ambiguous with the reason (the family is
// optional: a host that refuses mounts gets reasons, not a failed run).
// Throws Error only for what stops everything (BPF refused outright).
// With `record`, the known values and every walk are kept for replay.
std::vector<FieldResult> run_files_experiment(const FilesOptions &opt,
                                              FilesCapture *record = nullptr);

// The size of struct vfsmount on a kernel release ("6.1.0-13-amd64"): 24
// before 5.12 (mnt_root, mnt_sb, mnt_flags), 32 since mnt_userns (5.12,
// later mnt_idmap) followed mnt_flags.
uint32_t vfsmount_size_for(const std::string &release);

// The family's fields, all unresolved with `reason` and optional.
std::vector<FieldResult> files_unresolved(const std::string &reason);

// When `opt` selects a field of the family: runs the experiment (libbpf
// backend only) and appends the selected fields to `fields`. With
// OFFSETPROBE_FILES_DUMP=PATH the capture is written there (gzip'd JSON), a
// fixture for files/record.h's replay.
void add_files_family(const CalibrateOptions &opt, const Backend &backend,
                      std::optional<uint32_t> slab, std::vector<FieldResult> &fields);

// The read-back alone, for offsets found elsewhere (a fleet bundle,
// calibrate_cached's validation path): one fresh trial, every calibrated
// field of the family in `fields` read through the given offsets and passed,
// or failed and made unresolved as after a calibration. Other backends than
// libbpf leave the family's validation not run (the entry is then not
// complete, and calibrate falls back to the experiment). `later`: where the
// subjects and the walker go once the results are in, to be ended by the
// caller (teardown.h); without it they end before this returns.
void validate_files_family(const CalibrateOptions &opt, std::vector<FieldResult> &fields,
                           Deferred *later = nullptr);

} // namespace offsetprobe::files
