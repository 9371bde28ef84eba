// SPDX-License-Identifier: GPL-2.0-only
// What the file family's subjects hold, read from /proc while they live: the
// plan gives only what each fd is (its name, directory and mount); every
// value comes from the kernel's own reports.
#include "calibration/experiment/proc_read.h"
#include "calibration/model/calibrate_options.h"
#include "calibration/experiment/files/subject.h"
#include "calibration/experiment/files/subject_plan.h"

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace offsetprobe::files {

namespace {

struct FdInfo {
  uint64_t pos = 0;
  uint32_t flags = 0;
  int mnt_id = -1;
  uint64_t eventfd_count = 0;
};

FdInfo read_fdinfo(int pid, int fd) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
  if (!in)
    throw SubjectError("no /proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
  FdInfo i;
  std::string key, line;
  while (std::getline(in, line)) {
    std::istringstream is(line);
    is >> key;
    if (key == "pos:")
      is >> i.pos;
    else if (key == "flags:")
      is >> std::oct >> i.flags;
    else if (key == "mnt_id:")
      is >> i.mnt_id;
    else if (key == "eventfd-count:")
      is >> std::hex >> i.eventfd_count;
  }
  return i;
}

std::vector<int> open_fds(int pid) {
  std::vector<int> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR *d = opendir(dir.c_str());
  if (!d)
    throw SubjectError("cannot list " + dir);
  while (auto *e = readdir(d))
    if (e->d_name[0] != '.')
      out.push_back(std::stoi(e->d_name));
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

uint32_t fd_size(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("FDSize:", 0) == 0)
      return static_cast<uint32_t>(std::stoul(line.substr(7)));
  throw SubjectError("no FDSize in /proc/" + std::to_string(pid) + "/status");
}

// Fills fstat, statfs and fdinfo values of `f` (its identity is planned).
void observe(int pid, FdKnown &f) {
  std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(f.fd);
  FdInfo i = read_fdinfo(pid, f.fd);
  f.pos = i.pos;
  f.flags = i.flags;
  f.mnt_id = i.mnt_id;
  f.eventfd_count = i.eventfd_count;
  if (f.kind == FdKnown::Kind::eventfd)
    return;
  struct stat st {};
  struct statfs sf {};
  if (stat(link.c_str(), &st) != 0 || statfs(link.c_str(), &sf) != 0)
    throw SubjectError("cannot stat " + link);
  f.ino = st.st_ino;
  f.size = static_cast<uint64_t>(st.st_size);
  f.mode = st.st_mode;
  f.uid = st.st_uid;
  f.gid = st.st_gid;
  // The kernel's dev_t is major << 20 | minor (MKDEV); st_dev is encoded
  // for user space (new_encode_dev).
  f.kdev = (major(st.st_dev) << 20) | minor(st.st_dev);
  f.magic = static_cast<uint64_t>(sf.f_type);
  if (f.kind == FdKnown::Kind::exe) {
    char buf[4096];
    ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    std::string path = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    // A binary replaced while it runs (a rebuild) reads "NAME (deleted)";
    // its dentry keeps NAME.
    const std::string deleted = " (deleted)";
    if (path.size() > deleted.size() && path.ends_with(deleted))
      path.resize(path.size() - deleted.size());
    f.name = path.substr(path.rfind('/') + 1);
  }
}

std::vector<uint64_t> mm_layout(int pid) {
  auto v = read_mm_stat("/proc/" + std::to_string(pid) + "/stat");
  if (!v)
    return {};
  return {(*v)[0], (*v)[1], (*v)[2], (*v)[3]};
}

} // namespace

SubjectKnown observe_subject(const SubjectPlanView &plan, int pid, const std::string &role) {
  SubjectKnown s;
  s.role = role;
  s.pid = pid;
  s.fds = plan.fds;
  s.mounts = plan.mounts;
  s.root_fd = plan.root_fd;
  s.pwd_fd = plan.pwd_fd;
  s.exe_fd = plan.exe_fd;
  for (auto &f : s.fds)
    observe(pid, f);
  for (auto &m : s.mounts) {
    m.id = read_fdinfo(pid, m.root_fd).mnt_id;
    if (m.mountpoint_fd >= 0)
      m.parent_id = read_fdinfo(pid, m.mountpoint_fd).mnt_id;
  }
  s.open_fds = open_fds(pid);
  s.max_fds = fd_size(pid);
  s.mm_layout = mm_layout(pid);
  return s;
}

} // namespace offsetprobe::files
