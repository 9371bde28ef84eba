// SPDX-License-Identifier: GPL-2.0-only
// mm_struct's memory-layout fields, through task_struct.mm and active_mm
// (stage 2). The chain rule is below (calibration/solve/chains.cpp runs it).
#include "calibration/solve/chain_search.h"
#include "calibration/families/families.h"
#include "calibration/solve/pointer_pairs.h"
#include "calibration/solve/readback_check.h"

namespace offsetprobe::families {

namespace {

// mm -> layout fields in L and C; active_mm the same for a live task.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread), &C = c.seen(Role::creds),
                   &E = c.seen(Role::exiter);
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  const std::string mm = "task_struct.mm", active_mm = "task_struct.active_mm";
  bool all_mm = true, all_active = true;
  for (size_t k = 0; k < kMmFields.size(); k++) {
    std::string field = std::string("mm_struct.") + kMmFields[k];
    Step of_mm = c.step({mm, field}), of_active = c.step({active_mm, field});
    bool ok = t.leader.mm.has_value(), active = ok;
    std::string got;
    for (auto [rb, s] : {std::pair{&L, &t.leader}, std::pair{&C, &t.creds}}) {
      if (!s->mm)
        continue;
      ok = ok && rb->has(of_mm) && u64(*rb, of_mm) == (*s->mm)[k];
      active = active && rb->has(of_active) && u64(*rb, of_active) == (*s->mm)[k];
      got += std::to_string(u64(*rb, of_mm)) + " ";
    }
    c.check(field, c.offset("mm") ? ok : active,
            std::string(kMmFields[k]) + " read back as " + got + "(L, C)");
    if (c.offset(field)) {
      all_mm = all_mm && ok;
      all_active = all_active && active;
    }
  }
  // At exit the kernel may have cleared mm already (exit_mm() before the
  // tracepoint); it never clears active_mm there.
  Step m = c.step({mm}), a = c.step({active_mm});
  bool exit_ok = !E.captured || u64(E, a) != 0;
  c.check("mm", all_mm && u64(T, m) == u64(L, m) && u64(L, m) != u64(C, m) && exit_ok,
          "mm does not lead to /proc/<pid>/stat's values");
  c.check("active_mm", all_active && u64(T, a) == u64(L, a) && exit_ok,
          "active_mm does not lead to /proc/<pid>/stat's values");
  bool any_field = false;
  for (size_t k = 0; k < kMmFields.size(); k++)
    any_field = any_field || c.offset(std::string("mm_struct.") + kMmFields[k]).has_value();
  c.check_pair("mm", "active_mm",
               any_field && all_mm && all_active && u64(T, m) == u64(L, m) &&
                   u64(L, m) != u64(C, m),
               "the mm_struct fields do not read back through the pair's pointer");
}

} // namespace

// The chain rule (calibration/solve/chains.cpp runs it): the rules, then their
// entry points.
namespace {

using namespace chain;

// mm_struct's layout rules (declared layouts only), then mm vs active_mm
// (pointer_pairs.h). `sets` are the mm fields' candidates in kMmFields order.
void place_mm_fields(const FindField &find, const std::vector<const Trial *> &usable,
                     const std::vector<uint32_t> &valid,
                     const std::vector<std::vector<uint32_t>> &sets, const LayoutOrder &layout) {
  auto idx = [](const char *n) {
    return static_cast<size_t>(std::find_if(kMmFields.begin(), kMmFields.end(),
                                            [n](const char *m) { return std::string(m) == n; }) -
                               kMmFields.begin());
  };
  if (layout_rules_allowed(layout)) {
    // `unsigned long arg_start, arg_end, env_start, env_end;`: ELF loading
    // sets arg_end == env_start (the strings are contiguous).
    size_t ae = idx("arg_end"), es = idx("env_start");
    split_adjacent(find("mm_struct.arg_end"), find("mm_struct.env_start"), sets[ae], sets[es], 8,
                   "arg_end == env_start after execve(); adjacent pair " + join(sets[ae]) +
                       " split by declaration order (arg_end first)");

    // Without PR_SET_MM_MAP (no CONFIG_CHECKPOINT_RESTORE) env_end keeps a
    // twin in mm->saved_auxv: AT_EXECFN points at the file name execve()
    // copied right above the environment. `env_start, env_end` are
    // declared next to each other, so the candidate 8 bytes after a
    // calibrated env_start is env_end; the auxv copy never is (saved_auxv
    // follows env_end).
    auto &ee = find("mm_struct.env_end");
    auto &es_f = find("mm_struct.env_start");
    if (ee.status == FieldStatus::ambiguous && es_f.status == FieldStatus::calibrated &&
        std::count(ee.candidates.begin(), ee.candidates.end(), *es_f.offset + 8)) {
      ee.reason = "candidates " + join(ee.candidates) + " (auxv's AT_EXECFN equals env_end); " +
                  std::to_string(*es_f.offset + 8) + " follows env_start (declaration order)";
      ee.status = FieldStatus::calibrated;
      ee.offset = *es_f.offset + 8;
      ee.candidates.clear();
    }
  } else {
    for (const char *m : {"arg_end", "env_start", "env_end"}) {
      auto &f = find(std::string("mm_struct.") + m);
      if (f.status == FieldStatus::ambiguous)
        f.reason += "; randomized layout detected (" + layout.evidence +
                    "): declaration order does not apply";
    }
  }
  auto &mm = find("task_struct.mm");
  auto &am = find("task_struct.active_mm");
  if (place_mm_pair(mm, am, usable, valid, layout))
    return;
  settle_unplaced_pair(mm, am, valid, static_cast<uint32_t>(usable.size()),
                       "no pointer candidate leads to a struct holding /proc/<pid>/stat's values",
                       "one pointer leads to /proc/<pid>/stat's values; mm and active_mm "
                       "cannot be told apart");
}

// mm_struct: /proc/<pid>/stat prints its layout fields exactly. A pointer
// candidate is valid when its pointee holds every layout value of L's, C's
// and N's own mm.
void mm_by_value(ChainSolve &cs) {
  const auto &trials = cs.trials;
  const auto &opt = cs.opt;
  const auto &ptr_offsets = cs.ptr_offsets;
  const auto &nested_idx = cs.nested_idx;
  const FindField find = cs.finder();
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.leader.chain.captured && t.leader.mm)
      usable.push_back(&t);
  std::vector<std::string> names = {"task_struct.mm", "task_struct.active_mm"};
  for (const char *m : kMmFields)
    names.push_back(std::string("mm_struct.") + m);
  if (usable.size() < opt.min_trials) {
    for (const auto &n : names)
      unresolved(find(n), "only " + std::to_string(usable.size()) +
                              " trials captured the leader's mm and its /proc/<pid>/stat");
  } else {
    std::vector<uint32_t> valid;
    std::vector<std::set<uint32_t>> inner(kMmFields.size());
    for (size_t i = 0; i < ptr_offsets.size(); i++) {
      if (nested_idx.count(static_cast<uint32_t>(i)))
        continue;
      uint32_t limit = limit_of(usable, [i](const Trial &t) { return pointee(t.leader, i); });
      std::vector<std::vector<uint32_t>> c(kMmFields.size());
      bool all = true;
      for (size_t k = 0; k < kMmFields.size() && all; k++) {
        // L, C and N each have their own mm with the same layout values
        // (fork copies them); every one captured must agree.
        c[k] = survivors(usable, limit, 8, 8, opt.min_trials, [i, k](const Trial &t, uint32_t o) {
          Seen v = Seen::match;
          for (const Subject *s : {&t.leader, &t.creds, &t.unshared}) {
            if (!s->mm || !pointee(*s, i))
              continue;
            auto x = u64_at(*pointee(*s, i), o);
            if (!x)
              v = Seen::unknown;
            else if (*x != (*s->mm)[k])
              return Seen::mismatch;
          }
          return v;
        });
        all = !c[k].empty();
      }
      if (!all)
        continue;
      valid.push_back(ptr_offsets[i]);
      for (size_t k = 0; k < kMmFields.size(); k++)
        inner[k].insert(c[k].begin(), c[k].end());
    }
    std::vector<std::vector<uint32_t>> sets;
    for (size_t k = 0; k < kMmFields.size(); k++) {
      sets.emplace_back(inner[k].begin(), inner[k].end());
      settle(find(std::string("mm_struct.") + kMmFields[k]), sets.back(),
             static_cast<uint32_t>(usable.size()),
             "no pointer candidate's struct holds this /proc/<pid>/stat value");
    }
    cs.found["mm"] = {usable, valid, sets};
  }
}

void mm_by_layout(ChainSolve &cs, const LayoutOrder &layout) {
  auto it = cs.found.find("mm");
  if (it != cs.found.end())
    place_mm_fields(cs.finder(), it->second.usable, it->second.valid, it->second.sets, layout);
}

} // namespace

Family mm() {
  Family f;
  f.name = "mm";
  f.summary = "task_struct.mm and active_mm, and mm_struct's layout fields from /proc/<pid>/stat";
  add_task_pointer_pair(f, "mm", "active_mm");
  for (const char *m : kMmFields) {
    FieldDef d;
    d.struct_name = "mm_struct";
    d.member = m;
    // `unsigned long start_code, end_code, start_data, end_data; unsigned
    // long start_brk, brk, start_stack; unsigned long arg_start, arg_end,
    // env_start, env_end;` since 2.6 (brk is not calibrated): kMmFields'
    // order.
    d.order = static_cast<uint32_t>(f.fields.size() - 1);
    d.size = 8;
    d.align = 8;
    d.via = {"task_struct.mm", "task_struct.active_mm"};
    d.known = "/proc/<pid>/stat's memory-layout fields of L and C";
    f.fields.push_back(d);
  }
  f.roles = {{Role::creds, "C: a second process with its own mm (its layout differs from L's)"}};
  f.rule = "The pointer is the candidate whose pointee holds every layout value of L and C. "
           "ELF loading sets arg_end == env_start: the adjacent pair is split by declaration "
           "order (arg_end first). Without PR_SET_MM_MAP env_end has a twin in saved_auxv: the "
           "candidate 8 bytes after env_start is env_end (declaration order).";
  f.readback.push_back({{"task_struct.mm"}});
  // active_mm is also read at exit: the kernel may clear mm before the
  // tracepoint (exit_mm()), never active_mm.
  f.readback.push_back({{"task_struct.active_mm"}, kAtTrigger | kAtExit});
  for (const char *p : {"task_struct.mm", "task_struct.active_mm"})
    for (const char *m : kMmFields)
      f.readback.push_back({{p, std::string("mm_struct.") + m}});
  f.verify = verify;
  f.chain.pointer = ChainRule::Pointer::private_copy;
  f.chain.pointer_label = "mm";
  f.chain.by_value = mm_by_value;
  f.chain.by_layout = mm_by_layout;
  f.declared_order = {
      {"mm_struct",
       "mm_types.h declares start_code ... env_end in /proc/<pid>/stat's order (2.6 on)"}};
  return f;
}

} // namespace offsetprobe::families
