// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/chains.h"

#include "calibration/solve/chain_search.h"
#include "calibration/solve/layout_order.h"

#include <algorithm>
#include <map>
#include <set>

namespace offsetprobe {

using namespace chain;

namespace {

// The labels of the families whose pointer relates like `kind`, in catalogue
// order, joined with ", ".
std::string pointer_labels(ChainRule::Pointer kind) {
  std::string out;
  for (const auto &fam : catalogue())
    if (fam.chain.pointer == kind)
      out += (out.empty() ? "" : ", ") + fam.chain.pointer_label;
  return out;
}

// Every family pointer's label, the private copies first, then the shared
// ones after an "or" (what chain_plan says when no pointer relates).
std::string every_pointer_label() {
  std::string priv = pointer_labels(ChainRule::Pointer::private_copy);
  std::string shared = pointer_labels(ChainRule::Pointer::shared_until_unshare);
  if (priv.empty() || shared.empty())
    return priv + shared;
  return priv + " or " + shared;
}

} // namespace

const std::vector<FieldDecl> &chain_field_graph() {
  static const std::vector<FieldDecl> g = field_graph();
  return g;
}

StagePlan plan_stages(const std::vector<FieldDecl> &decls) {
  StagePlan plan;
  std::map<std::string, const FieldDecl *> by_name;
  for (const auto &d : decls)
    by_name[d.name] = &d;
  for (const auto &d : decls)
    for (const auto &r : d.needs)
      if (!by_name.count(r)) {
        plan.error = d.name + " requires " + r + ", which no field provides";
        return plan;
      }
  // Depth = pointers between task_struct and the field; Kahn's algorithm in
  // declaration order gives a dependency order and finds cycles.
  std::map<std::string, int> depth;
  std::vector<std::string> order;
  std::set<std::string> done;
  bool progress = true;
  while (order.size() < decls.size() && progress) {
    progress = false;
    for (const auto &d : decls) {
      if (done.count(d.name))
        continue;
      bool ready = std::all_of(d.needs.begin(), d.needs.end(),
                               [&](const std::string &r) { return done.count(r) > 0; });
      if (!ready)
        continue;
      int dp = 0;
      for (const auto &r : d.needs)
        dp = std::max(dp, depth[r] + 1);
      depth[d.name] = dp;
      done.insert(d.name);
      order.push_back(d.name);
      progress = true;
    }
  }
  if (order.size() < decls.size()) {
    for (const auto &d : decls)
      if (!done.count(d.name)) {
        plan.error = "cycle in the field graph at " + d.name;
        return plan;
      }
  }
  plan.stages.resize(1);
  for (const auto &name : order) {
    int dp = depth[name];
    if (dp > 2) {
      plan.stages.clear();
      plan.error = name + " is " + std::to_string(dp) +
                   " pointers away; the chain scanner follows at most 2 in one load";
      return plan;
    }
    size_t stage = dp == 0 ? 0 : 1;
    if (plan.stages.size() <= stage)
      plan.stages.resize(stage + 1);
    plan.stages[stage].push_back(name);
  }
  return plan;
}

std::vector<FieldResult> chain_fields() {
  // Every family of the catalogue but the task's own, in report order.
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    if (&fam != &catalogue().front() && fam.experiment.empty())
      for (const auto &f : fam.fields)
        out.push_back(unsolved(f));
  return out;
}

void mark_chains_unresolved(std::vector<FieldResult> &fields, const std::string &reason,
                            bool required) {
  std::set<std::string> names;
  for (const auto &f : chain_fields())
    names.insert(f.name);
  for (auto &f : fields)
    if (names.count(f.name) && f.status != FieldStatus::not_present)
      unresolved(f, reason, required);
}

ChainPlanResult chain_plan(const std::vector<Trial> &trials, const SolveOptions &opt,
                           size_t max_ptrs, size_t max_nested) {
  ChainPlanResult r;
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.leader.snap.captured && t.thread.snap.captured && t.grandchild.snap.captured &&
        t.creds.snap.captured && t.unshared.snap.captured)
      usable.push_back(&t);
  if (usable.size() < opt.min_trials) {
    r.error = "only " + std::to_string(usable.size()) + " trials captured L, T, G, C and N (need " +
              std::to_string(opt.min_trials) + ")";
    return r;
  }
  uint32_t limit = UINT32_MAX;
  for (const Trial *t : usable)
    for (const Subject *s : {&t->leader, &t->thread, &t->grandchild, &t->creds, &t->unshared})
      limit = std::min<uint32_t>(limit, static_cast<uint32_t>(s->snap.bytes.size()));
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);

  auto is_task = [](const Trial &t, uint64_t v) {
    for (const Subject *s : all_subjects(t))
      if (s->snap.captured && s->snap.task_addr == v)
        return true;
    return false;
  };
  // A kernel pointer of L's, shared by T (and `shared`), different (and a
  // kernel pointer) in each of `own`.
  auto relation = [&](const Trial &t, uint32_t o, std::initializer_list<const Subject *> shared,
                      std::initializer_list<const Subject *> own) {
    auto l = word(t.leader.snap, o);
    if (!l)
      return Seen::unknown;
    if (!is_kptr(*l) || is_task(t, *l))
      return Seen::mismatch;
    for (const Subject *s : shared) {
      auto v = word(s->snap, o);
      if (!v)
        return Seen::unknown;
      if (*v != *l)
        return Seen::mismatch;
    }
    for (const Subject *s : own) {
      auto v = word(s->snap, o);
      if (!v)
        return Seen::unknown;
      if (!is_kptr(*v) || *v == *l || is_task(t, *v))
        return Seen::mismatch;
    }
    return Seen::match;
  };
  // The pointers of private_copy families (ChainRule::Pointer): threads
  // share them, fork copies them.
  auto priv = survivors(usable, limit, 8, 8, opt.min_trials, [&](const Trial &t, uint32_t o) {
    return relation(t, o, {&t.thread}, {&t.grandchild, &t.creds, &t.unshared});
  });
  // The pointers of shared_until_unshare families: fork shares them,
  // unshare() replaces them.
  auto ns = survivors(usable, limit, 8, 8, opt.min_trials, [&](const Trial &t, uint32_t o) {
    return relation(t, o, {&t.thread, &t.grandchild, &t.creds}, {&t.unshared});
  });
  // Across trials: each leader has its own private copy (fork gives it a
  // new one), while every leader shares the subject host's shared pointer
  // and every N made its own. A pointer that only looks related within each
  // trial fails this: a per-CPU one (a run queue, say) that was the same for
  // L, T, G and C and another for N in every trial, which happened once in
  // 800 runs under load and pushed the shared candidates past the chain
  // scanner's capacity. Words not read in a trial are no evidence.
  auto distinct = [&](uint32_t o, const Subject Trial::*who) {
    std::set<uint64_t> seen;
    for (const Trial *t : usable)
      if (auto v = word((t->*who).snap, o); v && !seen.insert(*v).second)
        return false;
    return true;
  };
  auto same = [&](uint32_t o, const Subject Trial::*who) {
    std::set<uint64_t> seen;
    for (const Trial *t : usable)
      if (auto v = word((t->*who).snap, o))
        seen.insert(*v);
    return seen.size() <= 1;
  };
  std::erase_if(priv, [&](uint32_t o) { return !distinct(o, &Trial::leader); });
  std::erase_if(
      ns, [&](uint32_t o) { return !same(o, &Trial::leader) || !distinct(o, &Trial::unshared); });
  r.private_count = priv.size();
  r.ns_count = ns.size();
  if (priv.size() + ns.size() > max_ptrs || ns.size() > max_nested) {
    r.error = std::to_string(priv.size()) + " private and " + std::to_string(ns.size()) + " " +
              pointer_labels(ChainRule::Pointer::shared_until_unshare) +
              " pointer candidates exceed the chain scanner's " + std::to_string(max_ptrs) + "/" +
              std::to_string(max_nested);
    return r;
  }
  if (priv.empty() && ns.empty()) {
    r.error = "no pointer in task_struct relates across subjects like " + every_pointer_label();
    return r;
  }
  r.plan.ptr_offsets = priv;
  for (uint32_t o : ns) {
    r.plan.nested_of.push_back(static_cast<uint32_t>(r.plan.ptr_offsets.size()));
    r.plan.ptr_offsets.push_back(o);
  }
  return r;
}

std::vector<FieldResult> solve_from_task(const std::vector<Trial> &trials,
                                         const SolveOptions &opt) {
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    if (fam.chain.from_task)
      for (auto &f : fam.chain.from_task(trials, opt))
        out.push_back(f);
  return out;
}

std::vector<FieldResult> solve_chains(const std::vector<Trial> &trials, const SolveOptions &opt) {
  // The fields of every family the chain captures solve (not those found
  // in task_struct's own bytes: solve_from_task).
  std::vector<FieldResult> out;
  for (auto &f : chain_fields())
    if (!family_of(f.name)->chain.from_task)
      out.push_back(f);
  if (trials.empty()) {
    mark_chains_unresolved(out, "no trials", true);
    return out;
  }
  chain::ChainSolve cs{trials, opt, out, {}, {}, {}, {}};
  // The plan (load-time offsets) is the same in every capture of one run.
  for (const auto &t : trials)
    if (t.leader.chain.captured) {
      cs.ptr_offsets = t.leader.chain.ptr_offsets;
      cs.nested_of = t.leader.chain.nested_of;
      break;
    }
  cs.nested_idx = std::set<uint32_t>(cs.nested_of.begin(), cs.nested_of.end());

  // Each family's fields by value, in catalogue order (each rule settles its
  // own fields only), then the layout rules, once every field found by value
  // is settled: each stands down on a randomized layout (layout_order.h).
  for (const auto &fam : catalogue())
    if (fam.chain.by_value)
      fam.chain.by_value(cs);
  const LayoutOrder layout = detect_layout_order(out, opt.layout);
  for (const auto &fam : catalogue())
    if (fam.chain.by_layout)
      fam.chain.by_layout(cs, layout);
  return out;
}

} // namespace offsetprobe
