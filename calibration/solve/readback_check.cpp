// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/readback_check.h"

namespace offsetprobe {

const ReadValues &ReadbackCheck::seen(Role role) const {
  static const ReadValues none;
  auto it = seen_.find(role);
  return it == seen_.end() ? none : it->second;
}

FieldResult *ReadbackCheck::find(const std::string &name) {
  std::string full = name.find('.') == std::string::npos ? "task_struct." + name : name;
  for (auto &f : fields_)
    if (f.name == full)
      return &f;
  return nullptr;
}

std::optional<uint32_t> ReadbackCheck::offset(const std::string &name) {
  auto *f = find(name);
  return f && f->status == FieldStatus::calibrated ? f->offset : std::nullopt;
}

std::optional<uint32_t> ReadbackCheck::via(const std::string &name) {
  auto *f = find(name);
  return f ? pointer_offset(*f) : std::nullopt;
}

void ReadbackCheck::check(const std::string &name, bool ok, const std::string &detail) {
  auto *f = find(name);
  if (!f || f->status != FieldStatus::calibrated)
    return;
  if (ok) {
    f->validation = Validation::passed;
    return;
  }
  fail_readback(*f, detail, "validation failed: " + detail);
}

void ReadbackCheck::check_pair(const std::string &a, const std::string &b, bool ok,
                               const std::string &detail) {
  auto *fa = find(a), *fb = find(b);
  if (!fa || !fb || !fa->interchangeable || !fb->interchangeable ||
      fa->status != FieldStatus::ambiguous || fb->status != FieldStatus::ambiguous)
    return;
  for (auto *f : {fa, fb}) {
    f->validation = ok ? Validation::passed : Validation::failed;
    if (!ok) {
      f->validation_detail = detail;
      f->interchangeable = false;
    }
  }
}

bool ReadbackCheck::ticks_ok(uint64_t v, const std::optional<uint64_t> &ticks) const {
  if (!ticks)
    return true;
  auto n = static_cast<int64_t>(v) + tick_offset_ns_;
  return n >= 0 && uint64_t(n) / tick_ns_ == *ticks;
}

} // namespace offsetprobe
