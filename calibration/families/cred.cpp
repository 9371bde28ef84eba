// SPDX-License-Identifier: GPL-2.0-only
// struct cred's ids, through task_struct.real_cred and task_struct.cred
// (stage 2). The chain rule is below (calibration/solve/chains.cpp runs it).
#include "calibration/solve/chain_search.h"
#include "calibration/families/families.h"
#include "calibration/solve/pointer_pairs.h"
#include "calibration/solve/readback_check.h"

namespace offsetprobe::families {

namespace {

// C's and L's ids through real_cred and cred; threads share their creds.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread), &C = c.seen(Role::creds);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  auto id_step = [&](const char *ptr, size_t k) {
    return c.step({std::string("task_struct.") + ptr, std::string("cred.") + kCredIds[k]});
  };
  for (size_t k = 0; k < kCredIds.size(); k++) {
    bool ok = t.creds_error.empty() && t.creds.cred_ids && t.leader.cred_ids;
    std::string got;
    for (auto [rb, s] : {std::pair{&C, &t.creds}, std::pair{&L, &t.leader}}) {
      if (!ok)
        break;
      uint32_t want = (*s->cred_ids)[k];
      Step real = id_step("real_cred", k), eff = id_step("cred", k);
      if (c.via("real_cred"))
        ok = ok && rb->has(real) && u32(*rb, real) == want;
      if (c.via("cred"))
        ok = ok && rb->has(eff) && u32(*rb, eff) == want;
      got += std::to_string(u32(*rb, real)) + "/" + std::to_string(u32(*rb, eff)) + " ";
    }
    c.check(std::string("cred.") + kCredIds[k], ok && (c.via("real_cred") || c.via("cred")),
            std::string(kCredIds[k]) + " read back as " + got + "(real_cred/cred of C, L)");
  }
  bool pair_ok = false;
  for (size_t k = 0; k < kCredIds.size(); k++)
    pair_ok = pair_ok || c.offset(std::string("cred.") + kCredIds[k]).has_value();
  for (const char *p : {"real_cred", "cred"}) {
    bool ok = t.creds.cred_ids && t.leader.cred_ids;
    for (auto [rb, s] : {std::pair{&C, &t.creds}, std::pair{&L, &t.leader}})
      for (size_t k = 0; ok && k < kCredIds.size(); k++)
        if (c.offset(std::string("cred.") + kCredIds[k]))
          ok = rb->has(id_step(p, k)) && u32(*rb, id_step(p, k)) == (*s->cred_ids)[k];
    // Threads share their creds.
    Step ptr = c.step({std::string("task_struct.") + p});
    ok = ok && u64(T, ptr) == u64(L, ptr);
    c.check(p, ok, std::string(p) + "->ids do not read back as C's and L's ids");
    pair_ok = pair_ok && ok;
  }
  c.check_pair("real_cred", "cred", pair_ok,
               "the ids do not read back as C's and L's through the pair's pointer");
}

} // namespace

void add_task_pointer_pair(Family &f, const char *a, const char *b) {
  for (const char *p : {a, b}) {
    FieldDef d;
    d.struct_name = "task_struct";
    d.member = p;
    d.size = 8;
    d.align = 8;
    d.known = "a private pointer: shared by L and T, different in every forked child";
    f.fields.push_back(d);
  }
}

// The chain rule (calibration/solve/chains.cpp runs it): the rules, then their
// entry points.
namespace {

using namespace chain;

// struct cred declares `uid, gid, suid, sgid, euid, egid, fsuid, fsgid`
// one after the other, 4 bytes each (since 2.6.29). The 1.5 KiB copied
// behind the pointer runs past struct cred into its slab neighbours, and a
// stale cred from C's own credential changes (each commit_creds() allocates
// one; the freed ones keep their bytes) can repeat some of C's ids there in
// every trial: seen once in 150 runs on 6.18, sgid at 20 and at 1364
// (= 20 + 7 * 192, cred_jar's object size). When at least four ids are
// calibrated at base + 4 k for one base and none contradicts it, an ambiguous
// id whose candidates include its own place in that run takes it. Applied to
// exactly these eight members; validation then reads them back.
void split_cred_ids_by_order(std::vector<FieldResult> &fields) {
  std::vector<FieldResult *> ids;
  for (const char *id : kCredIds)
    for (auto &f : fields)
      if (f.name == std::string("cred.") + id)
        ids.push_back(&f);
  if (ids.size() != kCredIds.size())
    return;
  std::optional<uint32_t> base;
  int agreeing = 0;
  for (uint32_t k = 0; k < ids.size(); k++) {
    const FieldResult &f = *ids[k];
    if (f.status != FieldStatus::calibrated)
      continue;
    if (*f.offset < 4 * k || (base && *base != *f.offset - 4 * k))
      return; // calibrated ids out of declaration order: no rule applies
    base = *f.offset - 4 * k;
    agreeing++;
  }
  if (!base || agreeing < 4)
    return;
  for (uint32_t k = 0; k < ids.size(); k++) {
    FieldResult &f = *ids[k];
    uint32_t place = *base + 4 * k;
    if (f.status != FieldStatus::ambiguous ||
        !std::count(f.candidates.begin(), f.candidates.end(), place))
      continue;
    f.reason = "candidates " + join(f.candidates) + "; " + std::to_string(place) +
               " is its place among the other ids (declaration order: uid, gid, suid, sgid, "
               "euid, egid, fsuid, fsgid)";
    f.status = FieldStatus::calibrated;
    f.offset = place;
    f.candidates.clear();
  }
}

// struct cred's layout rules: the ids' declaration order (declared layouts
// only), then real_cred vs cred (pointer_pairs.h).
void place_cred_fields(std::vector<FieldResult> &out, const FindField &find,
                       const std::vector<const Trial *> &usable, const std::vector<uint32_t> &valid,
                       const LayoutOrder &layout) {
  if (layout_rules_allowed(layout))
    split_cred_ids_by_order(out);
  auto &rc = find("task_struct.real_cred");
  auto &cc = find("task_struct.cred");
  if (place_cred_pair(rc, cc, usable, valid, layout))
    return;
  settle_unplaced_pair(rc, cc, valid, static_cast<uint32_t>(usable.size()),
                       "no pointer candidate leads to a struct holding C's ids",
                       "one pointer leads to C's ids; real_cred and cred cannot be told apart");
}

// struct cred: C took distinct ids; L is root (or whatever it is). A
// pointer candidate is valid when its pointee holds every id of C's and of
// L's at one offset each.
void cred_by_value(ChainSolve &cs) {
  const auto &trials = cs.trials;
  const auto &opt = cs.opt;
  const auto &ptr_offsets = cs.ptr_offsets;
  const auto &nested_idx = cs.nested_idx;
  const FindField find = cs.finder();
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.creds_error.empty() && t.creds.chain.captured && t.leader.chain.captured &&
        t.creds.cred_ids && t.leader.cred_ids)
      usable.push_back(&t);
  std::vector<std::string> names = {"task_struct.real_cred", "task_struct.cred"};
  for (const char *id : kCredIds)
    names.push_back(std::string("cred.") + id);
  if (usable.size() < opt.min_trials) {
    std::string why = first_error(trials, &Trial::creds_error);
    for (const auto &n : names)
      unresolved(find(n),
                 "only " + std::to_string(usable.size()) +
                     " trials had a subject with distinct ids captured (need " +
                     std::to_string(opt.min_trials) + ")" + (why.empty() ? "" : ": " + why),
                 why.empty());
  } else {
    std::vector<uint32_t> valid;
    std::vector<std::set<uint32_t>> inner(kCredIds.size());
    uint32_t support = 0;
    for (size_t i = 0; i < ptr_offsets.size(); i++) {
      if (nested_idx.count(static_cast<uint32_t>(i)))
        continue;
      uint32_t limit = limit_of(usable, [i](const Trial &t) { return pointee(t.creds, i); });
      std::vector<std::vector<uint32_t>> c(kCredIds.size());
      bool all = true;
      for (size_t k = 0; k < kCredIds.size() && all; k++) {
        c[k] = survivors(
            usable, limit, 4, 4, opt.min_trials,
            [i, k](const Trial &t, uint32_t o) {
              auto cv = u32_at(*pointee(t.creds, i), o);
              auto lv = u32_at(*pointee(t.leader, i), o);
              if (!cv || !lv)
                return Seen::unknown;
              return *cv == (*t.creds.cred_ids)[k] && *lv == (*t.leader.cred_ids)[k]
                         ? Seen::match
                         : Seen::mismatch;
            },
            &support);
        all = !c[k].empty();
      }
      if (!all)
        continue;
      valid.push_back(ptr_offsets[i]);
      for (size_t k = 0; k < kCredIds.size(); k++)
        inner[k].insert(c[k].begin(), c[k].end());
    }
    for (size_t k = 0; k < kCredIds.size(); k++)
      settle(find(std::string("cred.") + kCredIds[k]),
             std::vector<uint32_t>(inner[k].begin(), inner[k].end()),
             static_cast<uint32_t>(usable.size()),
             "no pointer candidate's struct holds this id of C in every trial");
    cs.found["cred"] = {usable, valid, {}};
  }
}

void cred_by_layout(ChainSolve &cs, const LayoutOrder &layout) {
  auto it = cs.found.find("cred");
  if (it != cs.found.end())
    place_cred_fields(cs.out, cs.finder(), it->second.usable, it->second.valid, layout);
}

} // namespace

Family cred() {
  Family f;
  f.name = "cred";
  f.summary = "task_struct.real_cred and cred, and struct cred's uid/gid/suid/sgid/euid/egid/"
              "fsuid/fsgid";
  add_task_pointer_pair(f, "real_cred", "cred");
  for (const char *id : kCredIds) {
    FieldDef d;
    d.struct_name = "cred";
    d.member = id;
    // `kuid_t uid, gid, suid, sgid, euid, egid, fsuid, fsgid` (one
    // declaration per pair) since 2.6.29 (struct cred's introduction).
    d.order = static_cast<uint32_t>(f.fields.size() - 1);
    d.size = 4;
    d.align = 4;
    d.via = {"task_struct.real_cred", "task_struct.cred"};
    d.known = "/proc/<pid>/status Uid:/Gid: lines of L (root) and C (unusual ids)";
    f.fields.push_back(d);
  }
  f.roles = {{Role::creds, "C: forked by L, sets unusual ids with setresuid/setresgid and "
                           "setfsuid/setfsgid, in one of three orders by trial (all eight "
                           "distinct; setresuid last, fsuid = euid; setresgid last, fsgid = "
                           "egid) so that no stale cred of C's holds a family's final ids in "
                           "every trial"}};
  f.rule = "The pointer is the candidate whose pointee holds every id of C and of L. struct "
           "cred declares uid, gid, suid, sgid, euid, egid, fsuid, fsgid one after the other "
           "(since 2.6.29): a stale cred in the slab neighbours can repeat some of C's ids, so "
           "when at least four ids sit at base + 4 k for one base, an ambiguous id whose "
           "candidates include its own place takes it (split_cred_ids_by_order).";
  for (const char *p : {"task_struct.real_cred", "task_struct.cred"}) {
    f.readback.push_back({{p}});
    for (const char *id : kCredIds)
      f.readback.push_back({{p, std::string("cred.") + id}});
  }
  f.verify = verify;
  f.chain.pointer = ChainRule::Pointer::private_copy;
  f.chain.pointer_label = "cred";
  f.chain.by_value = cred_by_value;
  f.chain.by_layout = cred_by_layout;
  f.declared_order = {{"cred", "cred.h declares %s in this order (2.6.29 on)"}};
  return f;
}

} // namespace offsetprobe::families
