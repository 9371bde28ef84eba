// SPDX-License-Identifier: GPL-2.0-only
// The user-space half of `offsetprobe opens`: an event of bpf/opens.bpf.c
// decoded into a record, and the record checked against what /proc says of
// the same fd while it is open. Pure logic over an FdSource, tested without
// root.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace offsetprobe {

// One open as the kernel reported it.
struct OpenRecord {
  uint32_t tgid = 0, tid = 0;
  int fd = -1;
  uint32_t syscall_nr = 0;
  uint64_t start_ticks = 0;
  std::string comm;
  std::string path; // resolved in the kernel; "/" joined, from the walk's root
  std::string exe;  // the opener's mm->exe_file, resolved the same way ("" if none)
  uint64_t ino = 0;
  uint64_t dev = 0; // user-space encoding (makedev), as st_dev
  uint32_t mnt_id = 0, f_flags = 0;
  uint16_t mode = 0;
  uint16_t path_walk = 0, exe_walk = 0; // op_walk_flags of each walk
  uint16_t depth = 0, exe_depth = 0;

  bool truncated() const;
  bool path_complete() const; // the walk reached the root of the mount tree
  bool exe_complete() const;
};

// Decodes one ring buffer record (struct op_open_event, trimmed to its
// names). Returns nullopt and sets `error` when the record is malformed.
std::optional<OpenRecord> decode_open_event(const void *data, size_t size, std::string &error);

// Names as the walk sends them (leaf first, each NUL-terminated) joined into
// a path: "passwd\0etc\0" -> "/etc/passwd"; no names -> "/".
std::string join_walk_names(const char *names, size_t bytes);

// What /proc says of an fd: readlink /proc/<tgid>/task/<tid>/fd/<fd> and
// the inode and device of the file it names.
struct FdView {
  std::string link;
  uint64_t ino = 0, dev = 0;
};

class FdSource {
public:
  virtual ~FdSource() = default;
  // nullopt when the fd (or the process) is gone.
  virtual std::optional<FdView> fd(uint32_t tgid, uint32_t tid, int fd) = 0;
};

// Reads /proc (stat, readlink, stat again: an fd replaced in between is
// reported gone rather than compared).
class LiveFdSource : public FdSource {
public:
  std::optional<FdView> fd(uint32_t tgid, uint32_t tid, int fd) override;
};

enum class PathCheck {
  ok,         // readlink equals the kernel's path, same inode and device
  deleted,    // readlink is the path + " (deleted)": unlinked since (or before) the open
  truncated,  // the walk hit its bound; its names are the end of readlink's path
  mismatch,   // same file (inode, device), another path: the walk or its offsets are wrong
  reused,     // the fd names another file now (closed and reused before the check)
  closed,     // the fd (or the process) was gone before the check
  incomplete, // the walk faulted or escaped: nothing to compare
};

const char *to_string(PathCheck c);

// Compares a record with the fd's view (nullopt: gone).
PathCheck check_record(const OpenRecord &r, const std::optional<FdView> &view);

} // namespace offsetprobe
