// SPDX-License-Identifier: GPL-2.0-only
// What the file family's subjects are known to hold, read from outside the
// kernel's structs: fstat through /proc/<pid>/fd/N, /proc/<pid>/fdinfo/N,
// statfs, /proc/<pid>/status, /proc/<pid>/stat, and the names the subject
// was told to create. Plain data: the solver (files/solve.h) and the
// recorded fixtures (files/record.h) use it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::files {

// One open file descriptor of a subject.
struct FdKnown {
  int fd = -1;
  enum class Kind { regular, directory, eventfd, exe } kind = Kind::regular;
  std::string name;   // its dentry's name ("/" for a file system's root)
  int parent_fd = -1; // an O_PATH fd on the directory holding it (d_parent), or -1
  int mount = -1;     // index of its mount in SubjectKnown::mounts, or -1
  bool opath = false; // opened with O_PATH
  int acc = 0;        // O_ACCMODE of its open flags
  // fstat through /proc/<pid>/fd/N.
  uint64_t ino = 0, size = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint32_t kdev = 0;  // st_dev in the kernel's dev_t encoding (major << 20 | minor)
  uint64_t magic = 0; // statfs f_type
  // /proc/<pid>/fdinfo/N.
  uint64_t pos = 0;
  uint32_t flags = 0;
  int mnt_id = -1;
  uint64_t eventfd_count = 0;
};

// A mount the subject made.
struct MountKnown {
  int id = -1;            // mount id (fdinfo's mnt_id of a file in it)
  int root_fd = -1;       // an O_PATH fd on its root: f_path == {this mount, mnt_root}
  int mountpoint_fd = -1; // an O_PATH fd on its mount point, opened before mounting:
                          // f_path == {the parent mount, the mount point's dentry}
  int parent_id = -1;     // the parent mount's id
  bool bind = false;      // a bind mount of a directory of another mount
};

struct SubjectKnown {
  std::string role; // "files" (F) or "chroot" (R)
  int pid = -1;
  std::vector<FdKnown> fds;
  std::vector<MountKnown> mounts;
  std::vector<int> open_fds;       // every open fd (/proc/<pid>/fd), sorted
  uint32_t max_fds = 0;            // /proc/<pid>/status FDSize
  int root_fd = -1;                // an O_PATH fd whose f_path equals fs->root
  int pwd_fd = -1;                 // an O_PATH fd whose f_path equals fs->pwd
  int exe_fd = -1;                 // an fd on the running executable (its inode is exe_file's)
  std::vector<uint64_t> mm_layout; // /proc/<pid>/stat start_code, end_code, start_data, end_data

  const FdKnown *fd(int n) const {
    for (const auto &f : fds)
      if (f.fd == n)
        return &f;
    return nullptr;
  }
};

// One trial: F and R (a child of F that chrooted), with fresh random values.
struct TrialKnown {
  SubjectKnown files, chroot;
};

} // namespace offsetprobe::files
