// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/chain_search.h"

#include "calibration/model/catalogue.h"

#include <sstream>
#include <stdexcept>

namespace offsetprobe::chain {

namespace {

// The kernel half of x86_64's address space with 5-level paging (LA57): its
// direct map starts at 0xff11000000000000 (+ KASLR), below 4-level paging's
// 0xffff888000000000. Debian builds with CONFIG_X86_5LEVEL=y and uses LA57
// wherever the CPU has it (QEMU -cpu max, Ice Lake and later servers).
constexpr uint64_t kKptrMin = 0xff00000000000000ull;

} // namespace

bool is_kptr(uint64_t v) {
  return v >= kKptrMin && (v & 7) == 0;
}

FieldResult make(const std::string &name) {
  return unsolved(*find_field(name));
}

std::string join(const std::vector<uint32_t> &v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); i++)
    os << (i ? ", " : "") << v[i];
  return os.str();
}

std::vector<const Subject *> all_subjects(const Trial &t) {
  return {&t.leader, &t.thread, &t.grandchild, &t.exiter, &t.creds, &t.unshared};
}

// The value of an 8-byte word, if readable.
std::optional<uint64_t> word(const Snapshot &s, uint32_t off) {
  if (!s.readable_range(off, 8))
    return std::nullopt;
  return s.load<uint64_t>(off);
}

void settle(FieldResult &f, const std::vector<uint32_t> &cands, uint32_t trials,
            const std::string &none_reason) {
  f.trials = trials;
  f.candidates.clear();
  f.offset.reset();
  if (cands.size() == 1) {
    f.status = FieldStatus::calibrated;
    f.offset = cands[0];
  } else if (cands.empty()) {
    f.status = FieldStatus::unresolved;
    f.reason = none_reason;
  } else {
    f.status = FieldStatus::ambiguous;
    f.candidates = cands;
    f.reason = std::to_string(cands.size()) + " offsets match every trial: " + join(cands);
  }
}

void settle_unplaced_pair(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &valid,
                          uint32_t trials, const std::string &none_reason,
                          const std::string &one_reason) {
  for (auto *f : {&a, &b})
    settle(*f, valid, trials, none_reason);
  if (valid.size() == 1)
    for (auto *f : {&a, &b}) {
      f->status = FieldStatus::ambiguous;
      f->candidates = valid;
      f->offset.reset();
      f->reason = one_reason;
    }
}

void unresolved(FieldResult &f, const std::string &reason, bool required) {
  f.status = FieldStatus::unresolved;
  f.offset.reset();
  f.candidates.clear();
  f.reason = reason;
  f.required = required;
}

bool split_adjacent(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &ca,
                    const std::vector<uint32_t> &cb, uint32_t width, const std::string &why) {
  if (ca != cb || ca.size() != 2 || ca[1] != ca[0] + width)
    return false;
  for (auto [f, off] : {std::pair{&a, ca[0]}, std::pair{&b, ca[1]}}) {
    f->status = FieldStatus::calibrated;
    f->offset = off;
    f->candidates.clear();
    f->reason = why;
  }
  return true;
}

std::string first_error(const std::vector<Trial> &trials, std::string Trial::*what) {
  for (const auto &t : trials)
    if (!(t.*what).empty())
      return t.*what;
  return "";
}

std::optional<uint32_t> u32_at(const Snapshot &s, uint32_t o) {
  if (!s.readable_range(o, 4))
    return std::nullopt;
  return s.load<uint32_t>(o);
}
std::optional<uint64_t> u64_at(const Snapshot &s, uint32_t o) {
  return word(s, o);
}

const Snapshot *pointee(const Subject &s, size_t i) {
  if (!s.chain.captured || i >= s.chain.pointees.size())
    return nullptr;
  return &s.chain.pointees[i];
}
const Snapshot *nested(const Subject &s, size_t n, size_t j) {
  if (!s.chain.captured || n >= s.chain.nested.size() || j >= s.chain.nested[n].size())
    return nullptr;
  return &s.chain.nested[n][j];
}

uint32_t limit_of(const std::vector<const Trial *> &trials,
                  const std::function<const Snapshot *(const Trial &)> &get) {
  size_t n = 0;
  for (const Trial *t : trials)
    if (const Snapshot *s = get(*t))
      n = std::max(n, s->bytes.size());
  return static_cast<uint32_t>(n);
}

FieldResult &ChainSolve::find(const std::string &name) const {
  for (auto &f : out)
    if (f.name == name)
      return f;
  throw std::logic_error("no field " + name);
}

} // namespace offsetprobe::chain
