// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/solver.h"

#include "calibration/model/catalogue.h"
#include "calibration/model/predicate.h"
#include "calibration/solve/value_order.h"

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

std::function<bool(uint64_t)> in_window(const std::optional<Window> &w) {
  return [w](uint64_t v) { return w && w->contains(v); };
}

std::string missing_subjects(const Trial &t, const std::vector<Role> &roles) {
  std::string out;
  for (Role r : roles) {
    const Subject *s = r == Role::leader       ? &t.leader
                       : r == Role::thread     ? &t.thread
                       : r == Role::grandchild ? &t.grandchild
                                               : &t.exiter;
    if (!s->snap.captured) {
      static const char *names[] = {"leader", "thread", "grandchild", "exiter"};
      out += std::string(out.empty() ? "" : ", ") + names[static_cast<int>(r)];
    }
  }
  return out.empty() ? "" : "not captured: " + out;
}

// task_struct's field `member` as the catalogue declares it (its size and
// aliases); `size` must agree, so that a predicate's reads match the field.
FieldResult field(const char *member, uint32_t size, std::vector<std::string> aliases = {}) {
  const FieldDef *d = find_field(std::string("task_struct.") + member);
  if (!d || d->size != size || d->aliases != aliases)
    throw std::logic_error(std::string("solver and catalogue disagree on task_struct.") + member);
  return unsolved(*d);
}

// Why a trial cannot test a field: one of `roles` was not captured. The
// roles are copied: an initializer_list's array dies with the
// full-expression that made it, long before the lambda is called.
auto need(std::initializer_list<Role> roles) {
  return [roles = std::vector<Role>(roles)](const Trial &t) { return missing_subjects(t, roles); };
}

// The ids: pid, tgid, comm.
void add_id_specs(std::vector<FieldSpec> &specs) {

  // pid: every task's own tid. The thread separates it from tgid.
  specs.push_back(
      {field("pid", 4), 4,
       [](const Trial &t, uint32_t o) {
         Checks c;
         c.need(check<int32_t>(t.leader, o, equals<int32_t>(t.leader.snap.tid)));
         c.need(check<int32_t>(t.thread, o, equals<int32_t>(t.thread.snap.tid)));
         c.need(check<int32_t>(t.grandchild, o, equals<int32_t>(t.grandchild.snap.tid)));
         c.optional(t.exiter, check<int32_t>(t.exiter, o, equals<int32_t>(t.exiter.snap.tid)));
         return c.v;
       },
       need({Role::leader, Role::thread, Role::grandchild})});

  // tgid: the thread's is its leader's, not its own tid.
  specs.push_back({field("tgid", 4), 4,
                   [](const Trial &t, uint32_t o) {
                     Checks c;
                     c.need(check<int32_t>(t.leader, o, equals<int32_t>(t.leader.snap.tgid)));
                     c.need(check<int32_t>(t.thread, o, equals<int32_t>(t.leader.snap.tgid)));
                     c.need(
                         check<int32_t>(t.grandchild, o, equals<int32_t>(t.grandchild.snap.tgid)));
                     return c.v;
                   },
                   need({Role::leader, Role::thread, Role::grandchild})});

  // comm: the cookie, NUL-padded to 16 bytes. Any byte offset is tried.
  specs.push_back({field("comm", 16), 1,
                   [](const Trial &t, uint32_t o) {
                     Checks c;
                     auto comm_is = [o](const Subject &s) {
                       if (!s.snap.readable_range(o, 16))
                         return Verdict::unknown;
                       char want[16] = {};
                       s.comm.copy(want, 15);
                       return std::equal(want, want + 16, s.snap.bytes.begin() + o)
                                  ? Verdict::match
                                  : Verdict::mismatch;
                     };
                     c.need(comm_is(t.leader));
                     c.need(comm_is(t.thread));
                     c.need(comm_is(t.grandchild));
                     c.optional(t.exiter, comm_is(t.exiter));
                     return c.v;
                   },
                   need({Role::leader, Role::thread, Role::grandchild})});
}

// The task pointers: group_leader, real_parent, parent.
void add_pointer_specs(std::vector<FieldSpec> &specs) {
  // group_leader: the thread's and the leader's point to the leader; a
  // process's own (G, E) to itself. Requiring T -> L rules out saved-register
  // copies of the current task (Pixie's false match in cpu_context on arm64).
  specs.push_back(
      {field("group_leader", 8), 8,
       [](const Trial &t, uint32_t o) {
         Checks c;
         auto l = t.leader.snap.task_addr;
         c.need(check<uint64_t>(t.leader, o, equals<uint64_t>(l)));
         c.need(check<uint64_t>(t.thread, o, equals<uint64_t>(l)));
         c.need(check<uint64_t>(t.grandchild, o, equals<uint64_t>(t.grandchild.snap.task_addr)));
         c.optional(t.exiter,
                    check<uint64_t>(t.exiter, o, equals<uint64_t>(t.exiter.snap.task_addr)));
         return c.v;
       },
       need({Role::leader, Role::thread, Role::grandchild})});

  // real_parent: G's (ptraced by T) and E's point to L; T shares L's (both
  // were created by the calibrator's side), which is neither 0 nor L itself.
  specs.push_back({field("real_parent", 8), 8,
                   [](const Trial &t, uint32_t o) {
                     Checks c;
                     auto l = t.leader.snap.task_addr;
                     c.need(check<uint64_t>(t.grandchild, o, equals<uint64_t>(l)));
                     c.optional(t.exiter, check<uint64_t>(t.exiter, o, equals<uint64_t>(l)));
                     if (!t.leader.snap.readable_range(o, 8))
                       c.need(Verdict::unknown);
                     else {
                       auto lp = t.leader.snap.load<uint64_t>(o);
                       c.need(lp != 0 && lp != l ? Verdict::match : Verdict::mismatch);
                       c.need(check<uint64_t>(t.thread, o, equals<uint64_t>(lp)));
                     }
                     return c.v;
                   },
                   need({Role::leader, Role::thread, Role::grandchild})});

  // parent: differs from real_parent only while ptraced: G's points to T.
  specs.push_back(
      {field("parent", 8), 8,
       [](const Trial &t, uint32_t o) {
         if (!t.traced)
           return Verdict::unknown;
         Checks c;
         auto l = t.leader.snap.task_addr;
         c.need(check<uint64_t>(t.grandchild, o, equals<uint64_t>(t.thread.snap.task_addr)));
         c.optional(t.exiter, check<uint64_t>(t.exiter, o, equals<uint64_t>(l)));
         if (!t.leader.snap.readable_range(o, 8))
           c.need(Verdict::unknown);
         else {
           auto lp = t.leader.snap.load<uint64_t>(o);
           c.need(lp != 0 && lp != l ? Verdict::match : Verdict::mismatch);
           c.need(check<uint64_t>(t.thread, o, equals<uint64_t>(lp)));
         }
         return c.v;
       },
       [](const Trial &t) {
         if (!t.traced)
           return "ptrace not permitted (" + t.trace_error +
                  "): parent equals real_parent unless a task is ptraced";
         return missing_subjects(t, {Role::leader, Role::thread, Role::grandchild});
       }});
}

// The times and the exit code: start_time, start_boottime, exit_code.
void add_time_specs(std::vector<FieldSpec> &specs, const SolveOptions &opt) {
  // start_time: CLOCK_MONOTONIC ns at fork, inside the window around it.
  specs.push_back({field("start_time", 8), 8,
                   [](const Trial &t, uint32_t o) {
                     Checks c;
                     for (const Subject *s : {&t.leader, &t.thread, &t.grandchild})
                       c.need(check<uint64_t>(*s, o, in_window(s->mono)));
                     c.optional(t.exiter, check<uint64_t>(t.exiter, o, in_window(t.exiter.mono)));
                     return c.v;
                   },
                   need({Role::leader, Role::thread, Role::grandchild})});

  // start_boottime: CLOCK_BOOTTIME ns at fork, inside the window, and equal
  // to /proc/<pid>/stat field 22 once truncated to USER_HZ ticks (after the
  // time namespace's boottime offset, which /proc adds).
  specs.push_back({field("start_boottime", 8, {"real_start_time"}), 8,
                   [opt](const Trial &t, uint32_t o) {
                     Checks c;
                     auto ok = [&opt](const Subject &s) {
                       return [&opt, &s](uint64_t v) {
                         if (!s.boot || !s.boot->contains(v))
                           return false;
                         if (!s.start_ticks)
                           return true;
                         auto ns = static_cast<int64_t>(v) + opt.boot_offset_ns;
                         return ns >= 0 && uint64_t(ns) / opt.tick_ns == *s.start_ticks;
                       };
                     };
                     for (const Subject *s : {&t.leader, &t.thread, &t.grandchild})
                       c.need(check<uint64_t>(*s, o, ok(*s)));
                     c.optional(t.exiter, check<uint64_t>(t.exiter, o, ok(t.exiter)));
                     return c.v;
                   },
                   need({Role::leader, Role::thread, Role::grandchild})});

  // exit_code: do_group_exit() stores (code & 0xff) << 8 before the
  // sched_process_exit tracepoint fires; live tasks hold 0 there.
  specs.push_back({field("exit_code", 4), 4,
                   [](const Trial &t, uint32_t o) {
                     if (!t.exiter.exit_code)
                       return Verdict::unknown;
                     Checks c;
                     c.need(check<int32_t>(t.exiter, o, equals<int32_t>(*t.exiter.exit_code)));
                     c.need(check<int32_t>(t.leader, o, equals<int32_t>(0)));
                     c.need(check<int32_t>(t.thread, o, equals<int32_t>(0)));
                     c.need(check<int32_t>(t.grandchild, o, equals<int32_t>(0)));
                     return c.v;
                   },
                   need({Role::leader, Role::thread, Role::grandchild, Role::exiter})});
}

std::vector<FieldSpec> make_specs(const SolveOptions &opt) {
  std::vector<FieldSpec> specs;
  add_id_specs(specs);
  add_pointer_specs(specs);
  add_time_specs(specs, opt);
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
      Verdict v = spec.predicate(*t, o);
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
    for (const auto &s : make_specs(SolveOptions{}))
      out.push_back(s.base);
    return out;
  }();
  return fields;
}

std::vector<FieldResult> solve(const std::vector<Trial> &trials, const SolveOptions &opt) {
  auto specs = make_specs(opt);
  uint32_t limit = capture_size(trials);
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);

  std::vector<FieldResult> out;
  for (const auto &spec : specs)
    out.push_back(search(spec, trials, opt, limit));

  // The start_time / start_boottime trap: on a machine never suspended,
  // CLOCK_BOOTTIME == CLOCK_MONOTONIC, so both fields fall into both windows
  // and both candidate sets are the same pair (Pixie hit this). The order of
  // their values tells them apart wherever they sit (value_order.h); only
  // when the values are equal in every task does the declaration order
  // decide, and only on a layout that is the declared one.
  LayoutOrder layout = detect_layout_order(out, opt.layout);
  {
    FieldResult *st = nullptr, *bt = nullptr;
    for (auto &f : out) {
      if (f.member == "start_time")
        st = &f;
      if (f.member == "start_boottime")
        bt = &f;
    }
    if (st && bt)
      split_by_value_order(*st, *bt, trials, layout);
  }

  // Elimination: two members of one struct never share bytes, so when a
  // field has exactly one candidate x, and another field of the struct is
  // ambiguous with x among its candidates, x is not the other field's. This
  // is sound as long as every field's true offset is among its candidates,
  // which holds when the bytes were readable everywhere: a field whose true
  // offset was unreadable in every trial might otherwise have "won" a
  // neighbour's offset and pass it on. So it applies only when the
  // eliminator's and all the candidates' bytes were read in every captured
  // snapshot. It settles e.g. start_time {a, a+8} next to start_boottime {a+8}
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
      if (!d.predicate || !sel.has(d.name()))
        continue;
      FieldSpec spec{unsolved(d), d.align, d.predicate, d.cannot_test};
      if (!spec.cannot_test)
        spec.cannot_test = [](const Trial &) { return std::string(); };
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
