// SPDX-License-Identifier: GPL-2.0-only
// The file family's offsets as the path walk (bpf/pathwalk.bpf.h) takes
// them, from a calibration: every one calibrated and validated, or none.
#pragma once

#include "bpf/runtime/program_spec.h"
#include "calibration/model/result.h"

#include <cstdint>
#include <optional>
#include <string>

namespace offsetprobe {

// Offsets relative to the struct each one is read from (pathwalk.bpf.h
// spells them out); composites such as f_path + path.mnt are summed here.
struct FileWalkOffsets {
  uint32_t task_files = 0, files_fdt = 0, fdt_max_fds = 0, fdt_fd = 0;
  uint32_t file_path = 0, file_dentry = 0, file_inode = 0, file_flags = 0;
  uint32_t dentry_name = 0, dentry_parent = 0;
  uint32_t inode_ino = 0, inode_mode = 0, inode_sb = 0, sb_dev = 0;
  uint32_t mount_mnt = 0, mount_parent = 0, mount_point = 0, mount_id = 0, vfsmount_root = 0;
  uint32_t task_mm = 0, mm_exe = 0;
};

// The fields file_walk_offsets() needs (the file family and task_struct.mm),
// for --fields.
const char *file_walk_fields();

// The offsets, or nullopt with `why` set (the first field that is not
// calibrated and validated: its status and reason). Never a default or a
// guessed offset.
std::optional<FileWalkOffsets> file_walk_offsets(const CalibrationResult &r, std::string &why);

// Sets pathwalk.bpf.h's constants (fo_*) in a program's spec (libbpf only).
void add_file_walk_constants(ProgramSpec &spec, const FileWalkOffsets &o);

} // namespace offsetprobe
