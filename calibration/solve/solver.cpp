// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/solver.h"

#include "calibration/model/catalogue.h"
#include "calibration/model/predicate.h"
#include "calibration/solve/layout_order.h"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>

namespace offsetprobe {

namespace {

struct FieldSpec {
  FieldResult base;
  uint32_t align;
  Predicate predicate;
  // A trial that cannot test this field says why (e.g. ptrace refused).
  CannotTest cannot_test;
};

// The families solve() finds on the stage-1 trials: those of the engine's
// own experiment (no experiment of their own) whose fields have predicates.
// The task family today.
bool solved_in_stage1(const Family &fam) {
  return fam.experiment.empty() &&
         std::any_of(fam.fields.begin(), fam.fields.end(),
                     [](const FieldDef &d) { return static_cast<bool>(d.predicate); });
}

FieldSpec spec_of(const FieldDef &d) {
  FieldSpec spec{unsolved(d), d.align, d.predicate, d.cannot_test};
  if (!spec.cannot_test)
    spec.cannot_test = [](const Trial &) { return std::string(); };
  return spec;
}

std::vector<FieldSpec> make_specs() {
  std::vector<FieldSpec> specs;
  for (const auto &fam : catalogue())
    if (solved_in_stage1(fam))
      for (const auto &d : fam.fields)
        if (d.predicate)
          specs.push_back(spec_of(d));
  return specs;
}

std::string join(const std::vector<uint32_t> &v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); i++)
    os << (i ? ", " : "") << v[i];
  return os.str();
}

// Largest offset a snapshot of any trial covers.
uint32_t capture_size(const std::vector<Trial> &trials) {
  size_t n = 0;
  for (const auto &t : trials)
    for (const Subject *s : {&t.leader, &t.thread, &t.grandchild, &t.exiter})
      n = std::max(n, s->snap.bytes.size());
  return static_cast<uint32_t>(n);
}

// One field, searched for over the aligned offsets below `limit`.
// `untestable`, when given, says whether too few trials could test it.
FieldResult search(const FieldSpec &spec, const std::vector<Trial> &trials, const SolveOptions &opt,
                   uint32_t limit, bool *untestable = nullptr) {
  FieldResult f = spec.base;
  // Trials able to test this field at all.
  std::vector<const Trial *> usable;
  std::string why_not;
  for (const auto &t : trials) {
    std::string why = spec.cannot_test(t);
    if (why.empty())
      usable.push_back(&t);
    else if (why_not.empty())
      why_not = why;
  }
  if (untestable)
    *untestable = usable.size() < opt.min_trials;
  if (usable.size() < opt.min_trials) {
    f.status = FieldStatus::unresolved;
    f.reason = "only " + std::to_string(usable.size()) + " of " + std::to_string(trials.size()) +
               " trials could observe it (need " + std::to_string(opt.min_trials) + ")" +
               (why_not.empty() ? "" : ": " + why_not);
    return f;
  }
  // An offset survives when no trial contradicts it and at least
  // min_trials trials saw it match: a decoy that equals the known value in
  // one trial (a stale copy, a coincidence) is dropped by the others.
  std::vector<uint32_t> candidates;
  uint32_t support_of_best = 0;
  for (uint32_t o = 0; o + f.size <= limit; o += spec.align) {
    uint32_t support = 0;
    bool contradicted = false;
    for (const Trial *t : usable) {
      Verdict v = spec.predicate(*t, o, opt);
      if (v == Verdict::mismatch) {
        contradicted = true;
        break;
      }
      if (v == Verdict::match)
        support++;
    }
    if (!contradicted && support >= opt.min_trials) {
      candidates.push_back(o);
      support_of_best = std::max(support_of_best, support);
    }
  }
  f.trials = support_of_best;
  if (candidates.size() == 1) {
    f.status = FieldStatus::calibrated;
    f.offset = candidates[0];
  } else if (candidates.empty()) {
    f.status = FieldStatus::unresolved;
    f.reason = "no offset below " + std::to_string(limit) + " matched in " +
               std::to_string(opt.min_trials) + " trials without contradiction";
  } else {
    f.status = FieldStatus::ambiguous;
    f.candidates = candidates;
    f.reason =
        std::to_string(candidates.size()) + " offsets match every trial: " + join(candidates);
  }
  return f;
}

// Withdraws every calibrated field whose offset overlaps another calibrated
// field of its struct, where the second of the pair is at `from` or later.
void withdraw_overlaps(std::vector<FieldResult> &out, size_t from) {
  // Two members of one struct never share bytes. On a machine never
  // suspended either start value fits both windows, so with one of the pair
  // missing or unreadable the other's offset is the single candidate of both
  // fields (and the read-back cannot tell either). Which field owns it is
  // unknown: both are withdrawn rather than one of them reported wrong.
  std::vector<std::pair<size_t, size_t>> clashes;
  for (size_t i = 0; i < out.size(); i++)
    for (size_t j = std::max(i + 1, from); j < out.size(); j++) {
      const auto &a = out[i], &b = out[j];
      if (a.status == FieldStatus::calibrated && b.status == FieldStatus::calibrated &&
          a.struct_name == b.struct_name && *a.offset < *b.offset + b.size &&
          *b.offset < *a.offset + a.size)
        clashes.emplace_back(i, j);
    }
  for (auto [i, j] : clashes) {
    uint32_t off = std::min(*out[i].offset, *out[j].offset);
    for (auto [f, other] : {std::pair{&out[i], &out[j]}, std::pair{&out[j], &out[i]}})
      f->reason = "its only candidate overlaps " + other->name + " near offset " +
                  std::to_string(off) + ": cannot tell which field it is";
  }
  for (auto [i, j] : clashes)
    for (FieldResult *f : {&out[i], &out[j]})
      if (f->offset) {
        f->candidates = {*f->offset};
        f->offset.reset();
        f->status = FieldStatus::unresolved;
      }
}

} // namespace

const std::vector<FieldResult> &task_struct_fields() {
  static const std::vector<FieldResult> fields = [] {
    std::vector<FieldResult> out;
    for (const auto &s : make_specs())
      out.push_back(s.base);
    return out;
  }();
  return fields;
}

std::vector<FieldResult> solve(const std::vector<Trial> &trials, const SolveOptions &opt) {
  auto specs = make_specs();
  uint32_t limit = capture_size(trials);
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);

  std::vector<FieldResult> out;
  for (const auto &spec : specs)
    out.push_back(search(spec, trials, opt, limit));

  // The families' rules for fields their predicates cannot tell apart
  // (Family::settle), with the layout as the fields show it.
  LayoutOrder layout = detect_layout_order(out, opt.layout);
  for (const auto &fam : catalogue())
    if (solved_in_stage1(fam) && fam.settle)
      fam.settle(out, trials, layout);

  // Elimination: two members of one struct never share bytes, so when a
  // field has exactly one candidate x, and another field of the struct is
  // ambiguous with x among its candidates, x is not the other field's. This
  // is sound as long as every field's true offset is among its candidates,
  // which holds when the bytes were readable everywhere: a field whose true
  // offset was unreadable in every trial might otherwise have "won" a
  // neighbour's offset and pass it on. So it applies only when the
  // eliminator's and all the candidates' bytes were read in every captured
  // snapshot. It settles e.g. one start time's {a, a+8} next to the other's {a+8}
  // (seen on a Debian 6.12 rt kernel under QEMU, tests/fixtures/).
  auto read_everywhere = [&](uint32_t off, uint32_t size) {
    for (const auto &t : trials)
      for (const Subject *s : {&t.leader, &t.thread, &t.grandchild, &t.exiter})
        if (s->snap.captured && !s->snap.readable_range(off, size))
          return false;
    return true;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (auto &f : out) {
      if (f.status != FieldStatus::ambiguous)
        continue;
      bool all_read = std::all_of(f.candidates.begin(), f.candidates.end(),
                                  [&](uint32_t c) { return read_everywhere(c, f.size); });
      if (!all_read)
        continue;
      std::vector<uint32_t> left;
      std::string by;
      for (uint32_t c : f.candidates) {
        const FieldResult *owner = nullptr;
        for (const auto &o : out)
          if (&o != &f && o.status == FieldStatus::calibrated && o.struct_name == f.struct_name &&
              c < *o.offset + o.size && *o.offset < c + f.size &&
              read_everywhere(*o.offset, o.size))
            owner = &o;
        if (owner)
          by += (by.empty() ? "" : ", ") + std::to_string(c) + " is " + owner->name + "'s";
        else
          left.push_back(c);
      }
      if (left.size() == 1) {
        f.status = FieldStatus::calibrated;
        f.offset = left[0];
        f.reason = "by elimination: " + by;
        f.candidates.clear();
        changed = true;
      }
    }
  }

  withdraw_overlaps(out, 0);
  return out;
}

void solve_declared(const std::vector<Trial> &trials, const SolveOptions &opt,
                    const FieldSelection &sel, std::vector<FieldResult> &established) {
  uint32_t limit = capture_size(trials);
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);
  size_t from = established.size();
  for (const auto &fam : catalogue())
    for (const auto &d : fam.fields) {
      if (fam.experiment != "predicates" || !d.predicate || !sel.has(d.name()))
        continue;
      FieldSpec spec = spec_of(d);
      bool untestable = false;
      established.push_back(search(spec, trials, opt, limit, &untestable));
      // A field that need not be found (FieldDef::required) and that no
      // trial could test (the experiment could not run here) leaves the
      // calibration complete.
      established.back().required = d.required || !untestable;
    }
  // The same rule as solve()'s: two members of one struct never share
  // bytes. A declared field whose only candidate overlaps an established
  // one (or another declared one) is withdrawn with it.
  withdraw_overlaps(established, from);
}

} // namespace offsetprobe
