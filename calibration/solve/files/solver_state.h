// SPDX-License-Identifier: GPL-2.0-only
// The file family solver's working state, shared by its stages
// (files/solve.cpp: the fd table, struct file, inode, super_block;
// files/solve_paths.cpp: dentry, vfsmount, mount, fs_struct, private_data,
// exe_file). Internal to calibration/solve/files/.
#pragma once

#include "calibration/solve/files/solve.h"

#include <initializer_list>
#include <set>

namespace offsetprobe::files {

using Cands = std::set<int64_t>;

template <class T> std::set<T> intersect(const std::set<T> &a, const std::set<T> &b) {
  std::set<T> out;
  for (const auto &x : a)
    if (b.count(x))
      out.insert(x);
  return out;
}

// A candidate for the fd table's four offsets.
struct FdtTuple {
  uint32_t files, fdt, max_fds, fd;
  auto operator<=>(const FdtTuple &) const = default;
};

// Bytes copied before a followed pointer (struct mount around its vfsmount).
constexpr int32_t kBefore = 512;

class Solver {
public:
  Solver(Memory &mem, const std::vector<TrialKnown> &trials, const SolveConfig &cfg);
  FilesSolution run();

private:
  int nsubj() const { return static_cast<int>(subj_.size()); }
  // Records the field's candidates: calibrated when exactly one.
  void settle(const std::string &name, const Cands &c, const std::string &none);
  bool have(std::initializer_list<const char *> names) const;
  uint32_t at(const std::string &name) const { return static_cast<uint32_t>(off_.at(name)); }
  static WalkResponse merge(const std::vector<WalkResponse> &parts);
  std::vector<uint32_t> file_path(int fd) const;
  // A word of fd's struct file, or of what its pointer at `ptr` points to.
  std::optional<uint64_t> file_word(int s, int fd, uint32_t o) const;
  std::optional<uint64_t> ptee_word(int s, int fd, uint32_t ptr, int64_t o) const;

  void stage_task();
  std::set<FdtTuple> fdt_tuples(int s) const;
  void stage_fdtable();
  void stage_file_values();
  void stage_inode();
  void stage_super();
  void stage_dentry();
  void stage_dentry_links();
  void stage_vfsmount();
  void stage_mount();
  void stage_fs();
  void stage_private_data();
  void stage_exe();

  Memory &mem_;
  SolveConfig cfg_;
  std::vector<const SubjectKnown *> subj_;
  std::map<std::string, FieldResult> res_;
  std::map<std::string, int64_t> off_;
  std::vector<WalkResponse> task_;
  std::vector<uint32_t> task_ptrs_;
  std::vector<std::map<uint32_t, WalkResponse>> ptee_;
  std::vector<std::map<int, WalkResponse>> file_;
  std::vector<uint32_t> file_ptrs_;
  std::vector<std::map<std::pair<int, uint32_t>, WalkResponse>> fptr_;
  std::optional<uint32_t> mm_;
  uint32_t trials_ = 0;
};

} // namespace offsetprobe::files
