// SPDX-License-Identifier: GPL-2.0-only
// Fixtures of the cache tests: a plausible entry and a temporary cache dir.
#pragma once

#include "cache/store.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace offsetprobe::test {

inline FieldResult calibrated_field(const std::string &member, uint32_t offset, uint32_t size) {
  FieldResult f;
  f.name = "task_struct." + member;
  f.struct_name = "task_struct";
  f.member = member;
  f.size = size;
  f.status = FieldStatus::calibrated;
  f.offset = offset;
  f.trials = 3;
  f.validation = Validation::passed;
  return f;
}

// sample_calibration: offsets in the shape of a 6.x x86_64 task_struct, one
// ambiguous field and one calibrated-but-unvalidated field.
inline CalibrationResult sample_calibration() {
  CalibrationResult r;
  r.trials = 3;
  r.trigger = "tracepoint";
  r.scan_bytes = 16384;
  r.task_struct_size = 9792;
  r.fields.push_back(calibrated_field("pid", 2456, 4));
  r.fields.push_back(calibrated_field("tgid", 2460, 4));
  r.fields.push_back(calibrated_field("real_parent", 2472, 8));
  r.fields.push_back(calibrated_field("group_leader", 2496, 8));
  auto sb = calibrated_field("start_boottime", 2696, 8);
  sb.aliases = {"real_start_time"};
  r.fields.push_back(sb);
  r.fields.push_back(calibrated_field("comm", 3000, 16));
  FieldResult parent;
  parent.name = "task_struct.parent";
  parent.struct_name = "task_struct";
  parent.member = "parent";
  parent.size = 8;
  parent.status = FieldStatus::ambiguous;
  parent.candidates = {2472, 2480};
  parent.reason = "ptrace not permitted";
  r.fields.push_back(parent);
  auto ec = calibrated_field("exit_code", 2380, 4);
  ec.validation = Validation::failed;
  ec.validation_detail = "read 0, expected 0x2a00";
  r.fields.push_back(ec);
  return r;
}

inline KernelId
sample_kernel(const std::string &build_id = "0123456789abcdef0123456789abcdef01234567") {
  KernelId k;
  k.build_id = build_id;
  k.strong = build_id.rfind(reader::kProcVersionPrefix, 0) != 0;
  k.release = "6.18.0-test";
  k.version = "#1 SMP PREEMPT_DYNAMIC";
  k.machine = "x86_64";
  return k;
}

inline CacheEntry sample_entry(const KernelId &k = sample_kernel()) {
  CacheEntry e;
  e.kernel = k;
  e.calibrated_at = "2025-01-31T12:34:56Z";
  e.calibration = sample_calibration();
  return e;
}

// TempDir: a fresh 0755 dir under /tmp, removed with its contents.
class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/offsetprobe-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    std::filesystem::permissions(path_, std::filesystem::perms(0755));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }
  void write(const std::string &name, const std::string &text) const {
    std::ofstream(file(name), std::ios::binary | std::ios::trunc) << text;
  }

private:
  std::string path_;
};

} // namespace offsetprobe::test
