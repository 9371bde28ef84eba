// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/pointer_pairs.h"

namespace offsetprobe {

namespace {

// The kernel half of x86_64's address space with 5-level paging (as in
// chains.cpp): a pointer to a live kernel object is at or above it.
constexpr uint64_t kKptrMin = 0xff00000000000000ull;

bool is_kptr(uint64_t v) {
  return v >= kKptrMin && (v & 7) == 0;
}

std::optional<uint64_t> word(const Snapshot &s, uint32_t off) {
  if (!s.readable_range(off, 8))
    return std::nullopt;
  return s.load<uint64_t>(off);
}

std::string join(const std::vector<uint32_t> &v) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++)
    out += (i ? ", " : "") + std::to_string(v[i]);
  return out;
}

} // namespace

bool same_pointer_everywhere(const std::vector<const Trial *> &trials,
                             const std::vector<uint32_t> &cands) {
  if (cands.size() != 2)
    return false;
  int compared = 0;
  for (const Trial *t : trials)
    for (const Subject *s :
         {&t->leader, &t->thread, &t->grandchild, &t->exiter, &t->creds, &t->unshared}) {
      if (!s->snap.captured)
        continue;
      auto a = word(s->snap, cands[0]), b = word(s->snap, cands[1]);
      if (!a || !b)
        continue;
      // The exiter at exit may have dropped mm already: not a live task's
      // pair, so it is no evidence either way here (split_mm_by_exiter reads it).
      if (s == &t->exiter && (*a == 0 || *b == 0))
        continue;
      if (*a != *b)
        return false;
      compared++;
    }
  return compared > 0;
}

void mark_interchangeable(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &cands,
                          uint32_t trials, const std::string &why) {
  for (FieldResult *f : {&a, &b}) {
    f->status = FieldStatus::ambiguous;
    f->offset.reset();
    f->candidates = cands;
    f->trials = trials;
    f->interchangeable = true;
    f->reason = why;
  }
}

std::optional<std::pair<uint32_t, uint32_t>>
split_mm_by_exiter(const std::vector<const Trial *> &trials, const std::vector<uint32_t> &cands,
                   std::string &why, bool &contradiction) {
  contradiction = false;
  if (cands.size() != 2)
    return std::nullopt;
  const uint32_t a = cands[0], b = cands[1];
  int first_null = 0, second_null = 0, equal = 0, other = 0;
  for (const Trial *t : trials) {
    const Snapshot &e = t->exiter.snap;
    if (!t->exiter.wait_status || !e.captured)
      continue;
    auto x = word(e, a), y = word(e, b);
    if (!x || !y)
      continue;
    if (*x == 0 && is_kptr(*y))
      first_null++;
    else if (*y == 0 && is_kptr(*x))
      second_null++;
    else if (*x == *y && is_kptr(*x))
      equal++;
    else
      other++;
  }
  auto null_first = [&](uint32_t mm, uint32_t active) {
    why = "the exiter's " + std::to_string(mm) +
          " is NULL at sched_process_exit (exit_mm() ran), " + std::to_string(active) +
          " is not: mm, active_mm";
    return std::pair{mm, active};
  };
  if (first_null >= 1 && second_null == 0 && other == 0 && equal == 0)
    return null_first(a, b);
  if (second_null >= 1 && first_null == 0 && other == 0 && equal == 0)
    return null_first(b, a);
  if (first_null == 0 && second_null == 0 && other == 0) {
    why = "mm and active_mm (" + join(cands) +
          ") are equal in every captured task (the exit tracepoint fires before exit_mm() "
          "here)";
    return std::nullopt;
  }
  contradiction = true;
  why = "the exiter's values at " + join(cands) + " contradict each other";
  return std::nullopt;
}

std::string declared_order_unusable(const LayoutOrder &layout, const std::vector<uint32_t> &cands,
                                    uint32_t width) {
  if (layout.randomized)
    return "randomized layout detected (" + layout.evidence + "): declaration order does not apply";
  if (cands.size() == 2 && cands[1] != cands[0] + width)
    return "not adjacent, so declaration order does not apply";
  return "declaration order does not apply";
}

} // namespace offsetprobe

namespace offsetprobe {

namespace {

void place(FieldResult &f, uint32_t off, uint32_t trials, const std::string &why) {
  f.status = FieldStatus::calibrated;
  f.offset = off;
  f.candidates.clear();
  f.trials = trials;
  f.interchangeable = false;
  f.reason = why;
}

} // namespace

bool place_cred_pair(FieldResult &rc, FieldResult &cc, const std::vector<const Trial *> &usable,
                     const std::vector<uint32_t> &valid, const LayoutOrder &layout) {
  const auto n = static_cast<uint32_t>(usable.size());
  if (!same_pointer_everywhere(usable, valid))
    return false;
  const std::string both = "both point to the same struct cred in every task (they differ only "
                           "while override_creds() is in force)";
  if (valid[1] == valid[0] + 8 && layout_rules_allowed(layout)) {
    // `const struct cred __rcu *real_cred; const struct cred __rcu *cred;`
    // next to each other since 2.6.29 (ptracer_cred before them is NULL in an
    // untraced task and never a candidate).
    std::string why =
        both + "; adjacent pair " + join(valid) + " split by declaration order (real_cred first)";
    place(rc, valid[0], n, why);
    place(cc, valid[1], n, why);
    return true;
  }
  mark_interchangeable(rc, cc, valid, n,
                       both + "; which is which is unknown (" +
                           declared_order_unusable(layout, valid, 8) +
                           "); the ids behind either are the same: any candidate may be "
                           "dereferenced for them");
  return true;
}

bool place_mm_pair(FieldResult &mm, FieldResult &am, const std::vector<const Trial *> &usable,
                   const std::vector<uint32_t> &valid, const LayoutOrder &layout) {
  const auto n = static_cast<uint32_t>(usable.size());
  if (valid.size() != 2)
    return false;
  std::string why;
  bool contradiction = false;
  if (auto split = split_mm_by_exiter(usable, valid, why, contradiction)) {
    place(mm, split->first, n, why);
    place(am, split->second, n, why);
    return true;
  }
  if (contradiction) {
    for (FieldResult *f : {&mm, &am}) {
      f->status = FieldStatus::ambiguous;
      f->offset.reset();
      f->candidates = valid;
      f->trials = n;
      f->reason = why;
    }
    return true;
  }
  if (valid[1] == valid[0] + 8 && layout_rules_allowed(layout)) {
    why += "; adjacent pair " + join(valid) + " split by declaration order (mm first)";
    place(mm, valid[0], n, why);
    place(am, valid[1], n, why);
    return true;
  }
  if (same_pointer_everywhere(usable, valid)) {
    mark_interchangeable(mm, am, valid, n,
                         why + "; which is which is unknown (" +
                             declared_order_unusable(layout, valid, 8) +
                             "); the mm_struct behind either is the same: any candidate may be "
                             "dereferenced for its fields");
    return true;
  }
  for (FieldResult *f : {&mm, &am}) {
    f->status = FieldStatus::ambiguous;
    f->offset.reset();
    f->candidates = valid;
    f->trials = n;
    f->reason = why + "; " + declared_order_unusable(layout, valid, 8);
  }
  return true;
}

} // namespace offsetprobe
