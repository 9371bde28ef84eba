// SPDX-License-Identifier: GPL-2.0-only
// The namespaces: task_struct.nsproxy -> nsproxy.*_ns -> *_namespace.ns.inum
// (stage 2, two pointers in one load). kNsKinds (ns.h) lists the kinds; the
// chain rule (ns_by_value) is below.
#include "calibration/families/ns.h"
#include "calibration/solve/chain_search.h"
#include "calibration/families/families.h"
#include "calibration/solve/readback_check.h"

namespace offsetprobe::families {

namespace {

// nsproxy -> *_ns -> ns.inum in L and N; T shares L's nsproxy.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread),
                   &N = c.seen(Role::unshared);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  const std::string np = "task_struct.nsproxy";
  bool all_ns = true;
  for (const auto &kind : kNsKinds) {
    const char *proc = kind.proc;
    std::string ptr = std::string("nsproxy.") + kind.member;
    Step inum = c.step({np, ptr, std::string(kind.struct_name) + ".ns.inum"});
    bool ok = t.leader.ns_inum.count(proc) && t.unshared.ns_inum.count(proc);
    std::string got;
    for (auto [rb, s] : {std::pair{&L, &t.leader}, std::pair{&N, &t.unshared}}) {
      if (!ok)
        break;
      ok = rb->has(inum) && u32(*rb, inum) == s->ns_inum.at(proc);
      got += std::to_string(u32(*rb, inum)) + " ";
    }
    std::string detail =
        std::string(proc) + " inode read back as " + got + "(L, N), want " +
        (t.leader.ns_inum.count(proc)
             ? std::to_string(t.leader.ns_inum.at(proc)) + " " +
                   std::to_string(t.unshared.ns_inum.count(proc) ? t.unshared.ns_inum.at(proc) : 0)
             : "-");
    c.check(ptr, ok, detail);
    c.check(std::string(kind.struct_name) + ".ns.inum", ok, detail);
    if (c.offset(ptr))
      all_ns = all_ns && ok;
  }
  Step p = c.step({np});
  c.check(np, all_ns && L.has(p) && N.has(p) && u64(L, p) != u64(N, p) && u64(T, p) == u64(L, p),
          "nsproxy does not lead to L's and N's namespaces");
}

} // namespace

namespace {

using namespace chain;

// nsproxy and the namespaces: /proc/<pid>/ns/<kind> gives ns.inum. The
// nested candidates (followed one level further) are nsproxy's; the one whose
// members lead to L's and N's inode numbers of every kind the kernel has is
// nsproxy.
void ns_by_value(ChainSolve &cs) {
  const auto &trials = cs.trials;
  const auto &opt = cs.opt;
  const auto &ptr_offsets = cs.ptr_offsets;
  const auto &nested_of = cs.nested_of;
  const FindField find = cs.finder();
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.leader.chain.captured && t.unshared.chain.captured && !t.leader.ns_inum.empty() &&
        !t.unshared.ns_inum.empty())
      usable.push_back(&t);
  std::string why = first_error(trials, &Trial::unshare_error);
  auto &np = find("task_struct.nsproxy");
  if (usable.size() < opt.min_trials || nested_of.empty()) {
    std::string reason = nested_of.empty() ? "no pointer of task_struct changed with unshare()"
                                           : "only " + std::to_string(usable.size()) +
                                                 " trials captured L's and N's namespaces";
    if (!why.empty())
      reason += ": unshare: " + why;
    unresolved(np, reason, why.empty());
    for (const auto &k : kNsKinds) {
      unresolved(find(std::string("nsproxy.") + k.member), reason, why.empty());
      unresolved(find(std::string(k.struct_name) + ".ns.inum"), reason, why.empty());
    }
  } else {
    // Kinds the kernel has (a /proc/<pid>/ns link in every trial).
    std::vector<bool> present(kNsKinds.size(), true);
    for (size_t k = 0; k < kNsKinds.size(); k++)
      for (const Trial *t : usable)
        if (!t->leader.ns_inum.count(kNsKinds[k].proc) ||
            !t->unshared.ns_inum.count(kNsKinds[k].proc))
          present[k] = false;
    // found[n][k] = the (slot, offset) pairs in nested group n.
    std::vector<uint32_t> valid_groups;
    std::vector<std::vector<std::vector<std::pair<uint32_t, uint32_t>>>> found(nested_of.size());
    // The inode numbers per usable trial and kind, looked up once.
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> want(usable.size());
    for (size_t ti = 0; ti < usable.size(); ti++)
      for (size_t k = 0; k < kNsKinds.size(); k++)
        want[ti].push_back(present[k] ? std::pair{usable[ti]->leader.ns_inum.at(kNsKinds[k].proc),
                                                  usable[ti]->unshared.ns_inum.at(kNsKinds[k].proc)}
                                      : std::pair{0u, 0u});
    for (size_t n = 0; n < nested_of.size(); n++) {
      found[n].resize(kNsKinds.size());
      // All kinds at once: each (slot, offset) is read once per trial and
      // compared with every kind's pair (one survivors() pass per kind took
      // ~1 ms).
      for (uint32_t j = 0;; j++) {
        bool have = false;
        for (const Trial *t : usable)
          have |= nested(t->leader, n, j) != nullptr;
        if (!have)
          break;
        uint32_t limit =
            limit_of(usable, [n, j](const Trial &t) { return nested(t.leader, n, j); });
        auto per_kind = survivors_each(
            usable, limit, 4, 4, opt.min_trials, present,
            [&](const Trial &t, uint32_t o, const auto &alive, auto &seen) {
              const Snapshot *ls = nested(t.leader, n, j), *ns = nested(t.unshared, n, j);
              auto lo = ls ? u32_at(*ls, o) : std::nullopt;
              auto no = ns ? u32_at(*ns, o) : std::nullopt;
              if (!lo || !no)
                return; // not read: neither evidence for nor against
              // Copied out: GCC 12 warned (-Wmaybe-uninitialized) on the
              // optionals' reads below, checked above.
              const uint32_t lv = lo.value_or(0), nv = no.value_or(0);
              size_t ti =
                  static_cast<size_t>(std::find(usable.begin(), usable.end(), &t) - usable.begin());
              for (size_t k = 0; k < kNsKinds.size(); k++)
                if (alive[k])
                  seen[k] = lv == want[ti][k].first && nv == want[ti][k].second ? Seen::match
                                                                                : Seen::mismatch;
            });
        for (size_t k = 0; k < kNsKinds.size(); k++)
          for (uint32_t o : per_kind[k])
            found[n][k].push_back({j * 8, o});
      }
      bool all = true;
      for (size_t k = 0; k < kNsKinds.size(); k++)
        all = all && (!present[k] || !found[n][k].empty());
      if (all)
        valid_groups.push_back(static_cast<uint32_t>(n));
    }
    std::vector<uint32_t> ptrs;
    for (uint32_t n : valid_groups)
      ptrs.push_back(ptr_offsets[nested_of[n]]);
    settle(np, ptrs, static_cast<uint32_t>(usable.size()),
           "no nsproxy candidate leads to the namespaces' inode numbers");
    for (size_t k = 0; k < kNsKinds.size(); k++) {
      auto &slot = find(std::string("nsproxy.") + kNsKinds[k].member);
      auto &inum = find(std::string(kNsKinds[k].struct_name) + ".ns.inum");
      if (!present[k]) {
        for (auto *f : {&slot, &inum}) {
          f->status = FieldStatus::not_present;
          f->reason = std::string("no /proc/<pid>/ns/") + kNsKinds[k].proc +
                      ": the kernel has no such namespace";
        }
        continue;
      }
      if (valid_groups.size() != 1) {
        for (auto *f : {&slot, &inum})
          unresolved(*f, "task_struct.nsproxy is not resolved");
        continue;
      }
      std::set<uint32_t> slots, offs;
      for (auto [j, o] : found[valid_groups[0]][k]) {
        slots.insert(j);
        offs.insert(o);
      }
      std::string nothing =
          std::string("no nsproxy member leads to /proc/<pid>/ns/") + kNsKinds[k].proc + "'s inode";
      settle(slot, {slots.begin(), slots.end()}, static_cast<uint32_t>(usable.size()), nothing);
      settle(inum, {offs.begin(), offs.end()}, static_cast<uint32_t>(usable.size()), nothing);
      if (slot.status == FieldStatus::ambiguous && !why.empty())
        slot.reason += " (unshare: " + why + ")";
    }
  }
}

} // namespace

Family ns() {
  Family f;
  f.name = "ns";
  f.summary = "task_struct.nsproxy, its namespace pointers, and each namespace's ns.inum";
  FieldDef np;
  np.struct_name = "task_struct";
  np.member = "nsproxy";
  np.size = 8;
  np.align = 8;
  np.known = "shared by L, T, G and C; different in N, which unshared its namespaces";
  // sched.h declares nsproxy after comm and before the audit block: rank 8
  // in task_struct's declared order (families/task.cpp).
  np.order = 8;
  f.fields.push_back(np);
  for (const auto &k : kNsKinds) {
    FieldDef d;
    d.struct_name = "nsproxy";
    d.member = k.member;
    d.size = 8;
    d.align = 8;
    d.via = {"task_struct.nsproxy"};
    d.absent = std::string("kernels without a ") + k.proc + " namespace (no /proc/<pid>/ns/" +
               k.proc + ")";
    d.known = std::string("leads to the inode of /proc/<pid>/ns/") + k.proc + " of L and of N";
    f.fields.push_back(d);
  }
  for (const auto &k : kNsKinds) {
    FieldDef d;
    d.struct_name = k.struct_name;
    d.member = "ns.inum";
    d.size = 4;
    d.align = 4;
    d.via = {std::string("nsproxy.") + k.member};
    d.absent = std::string("kernels without a ") + k.proc + " namespace";
    d.known = std::string("the inode of /proc/<pid>/ns/") + k.proc + " of L and of N";
    f.fields.push_back(d);
  }
  f.roles = {{Role::unshared, "N: forked by L, unshares every namespace it can"}};
  f.rule = "The nsproxy candidate is the pointer shared by L, T, G and C but not N whose "
           "pointee holds, word by word, pointers to structs that hold L's and N's inode "
           "numbers of each kind; one candidate group must lead to every present kind.";
  f.readback.push_back({{"task_struct.nsproxy"}});
  for (const auto &k : kNsKinds) {
    std::string ptr = std::string("nsproxy.") + k.member;
    f.readback.push_back({{"task_struct.nsproxy", ptr}});
    f.readback.push_back({{"task_struct.nsproxy", ptr, std::string(k.struct_name) + ".ns.inum"}});
  }
  f.verify = verify;
  f.chain.pointer = ChainRule::Pointer::shared_until_unshare;
  f.chain.pointer_label = "nsproxy";
  f.chain.by_value = ns_by_value;
  return f;
}

} // namespace offsetprobe::families
