// SPDX-License-Identifier: GPL-2.0-only
#include "opens/file_offsets.h"

#include <utility>
#include <vector>

namespace offsetprobe {

const char *file_walk_fields() {
  return "files,mm";
}

std::optional<FileWalkOffsets> file_walk_offsets(const CalibrationResult &r, std::string &why) {
  bool ok = true;
  auto get = [&](const char *name) -> uint32_t {
    if (!ok)
      return 0;
    const FieldResult *f = r.find(name);
    if (!f) {
      why = std::string(name) + ": not in the calibration (run offsetprobe calibrate --fields " +
            file_walk_fields() + ")";
      ok = false;
      return 0;
    }
    if (f->status != FieldStatus::calibrated || f->validation != Validation::passed || !f->offset) {
      why = std::string(name) + ": " + to_string(f->status) + ", validation " +
            to_string(f->validation) + (f->reason.empty() ? "" : ": " + f->reason);
      ok = false;
      return 0;
    }
    return *f->offset;
  };
  FileWalkOffsets o;
  o.task_files = get("task_struct.files");
  o.files_fdt = get("files_struct.fdt");
  o.fdt_max_fds = get("fdtable.max_fds");
  o.fdt_fd = get("fdtable.fd");
  uint32_t f_path = get("file.f_path");
  o.file_path = f_path + get("path.mnt");
  o.file_dentry = f_path + get("path.dentry");
  o.file_inode = get("file.f_inode");
  o.file_flags = get("file.f_flags");
  o.dentry_name = get("dentry.d_name") + get("qstr.name");
  o.dentry_parent = get("dentry.d_parent");
  o.inode_ino = get("inode.i_ino");
  o.inode_mode = get("inode.i_mode");
  o.inode_sb = get("inode.i_sb");
  o.sb_dev = get("super_block.s_dev");
  o.mount_mnt = get("mount.mnt");
  o.mount_parent = get("mount.mnt_parent");
  o.mount_point = get("mount.mnt_mountpoint");
  o.mount_id = get("mount.mnt_id");
  o.vfsmount_root = get("vfsmount.mnt_root");
  o.task_mm = get("task_struct.mm");
  o.mm_exe = get("mm_struct.exe_file");
  if (!ok)
    return std::nullopt;
  return o;
}

void add_file_walk_constants(ProgramSpec &spec, const FileWalkOffsets &o) {
  const std::vector<std::pair<const char *, uint32_t>> all = {
      {"fo_task_files", o.task_files},
      {"fo_files_fdt", o.files_fdt},
      {"fo_fdt_max_fds", o.fdt_max_fds},
      {"fo_fdt_fd", o.fdt_fd},
      {"fo_file_path", o.file_path},
      {"fo_file_dentry", o.file_dentry},
      {"fo_file_inode", o.file_inode},
      {"fo_file_flags", o.file_flags},
      {"fo_dentry_name", o.dentry_name},
      {"fo_dentry_parent", o.dentry_parent},
      {"fo_inode_ino", o.inode_ino},
      {"fo_inode_mode", o.inode_mode},
      {"fo_inode_sb", o.inode_sb},
      {"fo_sb_dev", o.sb_dev},
      {"fo_mount_mnt", o.mount_mnt},
      {"fo_mount_parent", o.mount_parent},
      {"fo_mount_point", o.mount_point},
      {"fo_mount_id", o.mount_id},
      {"fo_vfsmount_root", o.vfsmount_root},
      {"fo_task_mm", o.task_mm},
      {"fo_mm_exe", o.mm_exe},
  };
  // libbpf only (no BCC macro): the BCC backend has no file family.
  for (const auto &[name, v] : all)
    spec.constant({name, 4, {v}, {}});
}

} // namespace offsetprobe
