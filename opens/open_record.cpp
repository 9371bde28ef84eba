// SPDX-License-Identifier: GPL-2.0-only
#include "opens/open_record.h"

#include "opens.h"

#include <cstring>
#include <vector>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace offsetprobe {

bool OpenRecord::truncated() const {
  return path_walk & OP_WALK_TRUNCATED;
}

bool OpenRecord::path_complete() const {
  return path_walk & OP_WALK_COMPLETE;
}

bool OpenRecord::exe_complete() const {
  return exe_walk & OP_WALK_COMPLETE;
}

std::string join_walk_names(const char *names, size_t bytes) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < bytes) {
    size_t n = strnlen(names + i, bytes - i);
    parts.emplace_back(names + i, n);
    i += n + 1;
  }
  if (parts.empty())
    return "/";
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it)
    path += "/" + *it;
  return path;
}

std::optional<OpenRecord> decode_open_event(const void *data, size_t size, std::string &error) {
  if (size < OP_OPEN_EVENT_HEADER) {
    error = "short event (" + std::to_string(size) + " bytes)";
    return std::nullopt;
  }
  op_open_event e;
  std::memset(&e, 0, sizeof(e));
  std::memcpy(&e, data, std::min(size, sizeof(e)));
  size_t names = size - OP_OPEN_EVENT_HEADER;
  if (size_t(e.path_bytes) + e.exe_bytes > names) {
    error = "event names overflow (" + std::to_string(e.path_bytes) + " + " +
            std::to_string(e.exe_bytes) + " > " + std::to_string(names) + ")";
    return std::nullopt;
  }
  OpenRecord r;
  r.tgid = e.tgid;
  r.tid = e.tid;
  r.fd = e.fd;
  r.syscall_nr = e.syscall_nr;
  r.start_ticks = e.start_ticks;
  r.comm.assign(e.comm, strnlen(e.comm, sizeof(e.comm)));
  r.ino = e.ino;
  // s_dev is the kernel's dev_t (major << 20 | minor); st_dev is user space's.
  r.dev = makedev(e.dev >> 20, e.dev & 0xfffff);
  r.mnt_id = e.mnt_id;
  r.f_flags = e.f_flags;
  r.mode = e.i_mode;
  r.path_walk = e.walk_flags & 0xff;
  r.exe_walk = e.walk_flags >> 8;
  r.depth = e.path_depth;
  r.exe_depth = e.exe_depth;
  r.path = join_walk_names(e.names, e.path_bytes);
  if (!(r.exe_walk & OP_WALK_NONE))
    r.exe = join_walk_names(e.names + e.path_bytes, e.exe_bytes);
  return r;
}

namespace {

std::optional<struct stat> stat_of(const std::string &p) {
  struct stat st {};
  if (stat(p.c_str(), &st) != 0)
    return std::nullopt;
  return st;
}

} // namespace

std::optional<FdView> LiveFdSource::fd(uint32_t tgid, uint32_t tid, int fd) {
  // Through the thread: one that unshared its fd table (CLONE_FILES) has its own.
  std::string p = "/proc/" + std::to_string(tgid) + "/task/" + std::to_string(tid) + "/fd/" +
                  std::to_string(fd);
  auto before = stat_of(p);
  if (!before)
    return std::nullopt;
  char buf[8192];
  ssize_t n = readlink(p.c_str(), buf, sizeof(buf));
  auto after = stat_of(p);
  if (n < 0 || !after || after->st_ino != before->st_ino || after->st_dev != before->st_dev)
    return std::nullopt;
  return FdView{std::string(buf, static_cast<size_t>(n)), static_cast<uint64_t>(before->st_ino),
                static_cast<uint64_t>(before->st_dev)};
}

const char *to_string(PathCheck c) {
  switch (c) {
  case PathCheck::ok:
    return "ok";
  case PathCheck::deleted:
    return "deleted";
  case PathCheck::truncated:
    return "truncated";
  case PathCheck::mismatch:
    return "mismatch";
  case PathCheck::reused:
    return "reused";
  case PathCheck::closed:
    return "closed";
  case PathCheck::incomplete:
    return "incomplete";
  }
  return "incomplete";
}

PathCheck check_record(const OpenRecord &r, const std::optional<FdView> &view) {
  if (!view)
    return PathCheck::closed;
  if (view->ino != r.ino || view->dev != r.dev)
    return PathCheck::reused;
  const std::string &link = view->link;
  static const std::string deleted = " (deleted)";
  if (r.truncated()) {
    // The walk's names are the last components of the path.
    std::string l = link;
    if (l.ends_with(deleted) && !r.path.ends_with(deleted))
      l.resize(l.size() - deleted.size());
    return l.ends_with(r.path) && l.size() > r.path.size() ? PathCheck::truncated
                                                           : PathCheck::mismatch;
  }
  if (!r.path_complete())
    return PathCheck::incomplete;
  if (link == r.path)
    return PathCheck::ok;
  if (link == r.path + deleted)
    return PathCheck::deleted;
  return PathCheck::mismatch;
}

} // namespace offsetprobe
