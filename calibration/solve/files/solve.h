// SPDX-License-Identifier: GPL-2.0-only
// The file family's solver: from the subjects' known values (files/known.h)
// and what the walker shows of kernel memory (files/walk.h), round by round,
// the offsets of the family's fields (calibration/families/files.cpp). Pure:
// no kernel access but through Memory, so it runs on recorded captures and on
// synthetic kernels in the tests.
#pragma once

#include "calibration/solve/files/known.h"
#include "calibration/solve/files/walk.h"
#include "calibration/model/result.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::files {

struct SolveConfig {
  uint32_t task_bytes = 12288; // bytes of task_struct searched for pointers
  uint32_t vfsmount_size = 32; // the size reported for mount.mnt (the embedded vfsmount)
  // Bytes of mm_struct searched for exe_file: the mm_struct slab object's
  // size where the kernel tells. Without it, 4 KiB: that reaches into the
  // next slab object, which may be a forked sibling's mm holding the same
  // exe_file (seen on 6.12 builds: 1160 and 1160 + 1408, the stride), and
  // the field is then ambiguous, never wrong.
  std::optional<uint32_t> mm_bytes;
};

// Subjects are numbered per trial: F is 2 * trial, R is 2 * trial + 1.
inline int subject_id(size_t trial, bool chroot) {
  return static_cast<int>(2 * trial + (chroot ? 1 : 0));
}

// The offsets the read-back walks: every calibrated field by name, and the
// task_struct.mm candidate the exe_file was found through.
struct FoundOffsets {
  std::map<std::string, uint32_t> off;
  std::optional<uint32_t> mm;
  bool has(const std::string &n) const { return off.count(n) > 0; }
  uint32_t at(const std::string &n) const { return off.at(n); }
};

struct FilesSolution {
  std::vector<FieldResult> fields; // the family's fields, in catalogue order
  FoundOffsets found;
};

// Solves every field of the family over `trials` (at least one). A field is
// calibrated only when exactly one candidate survived every subject of every
// trial; its validation is not run here (files/readback.h).
FilesSolution solve_files(Memory &mem, const std::vector<TrialKnown> &trials,
                          const SolveConfig &cfg);

} // namespace offsetprobe::files
