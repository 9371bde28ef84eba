// SPDX-License-Identifier: GPL-2.0-only
// The audit fields in task_struct's own bytes: loginuid and sessionid
// (stage 1, solved with the chain experiment's subject C). The rule is
// solve_audit, below.
#include "calibration/solve/chain_search.h"
#include "calibration/families/families.h"
#include "calibration/solve/readback_check.h"

namespace offsetprobe::families {

namespace {

// loginuid/sessionid: C's own, L's inherited.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &C = c.seen(Role::creds);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto audit = [&](const char *name, std::optional<uint32_t> Subject::*known) {
    Step step = c.step({std::string("task_struct.") + name});
    bool ok = t.loginuid_error.empty() && (t.creds.*known) && (t.leader.*known) && C.has(step) &&
              L.has(step) && u32(C, step) == *(t.creds.*known) &&
              u32(L, step) == *(t.leader.*known);
    c.check(name, ok,
            std::string(name) + " read back as " + std::to_string(u32(C, step)) + " (C), want " +
                ((t.creds.*known) ? std::to_string(*(t.creds.*known)) : "-"));
  };
  audit("loginuid", &Subject::loginuid);
  audit("sessionid", &Subject::sessionid);
}

} // namespace

Family audit() {
  Family f;
  f.name = "audit";
  f.summary = "task_struct.loginuid and sessionid (CONFIG_AUDIT)";
  for (const char *m : {"loginuid", "sessionid"}) {
    FieldDef d;
    d.struct_name = "task_struct";
    d.member = m;
    d.size = 4;
    d.align = 4;
    d.absent = "kernels without CONFIG_AUDIT (no /proc/<pid>/loginuid): not_present";
    d.known = std::string("/proc/<pid>/") + m + " of C (its own, set through /proc) and L";
    // The audit block, far below the namespaces in sched.h: ranks 9 and 10 in
    // task_struct's declared order (families/task.cpp).
    d.order = static_cast<uint32_t>(9 + f.fields.size());
    f.fields.push_back(d);
  }
  f.roles = {{Role::creds, "C: writes its own /proc/self/loginuid, which starts a session"}};
  f.rule = "A 4-byte word that holds C's loginuid (sessionid) in C and L's in L and T, in "
           "every trial.";
  f.readback = {{{"task_struct.loginuid"}}, {{"task_struct.sessionid"}}};
  f.verify = verify;
  f.chain.from_task = solve_audit;
  return f;
}

} // namespace offsetprobe::families

namespace offsetprobe {

using namespace chain;

// Stage 1: loginuid and sessionid in task_struct's own bytes, from subject
// C's fresh loginuid and sessionid against what L, T, G and N inherited.
std::vector<FieldResult> solve_audit(const std::vector<Trial> &trials, const SolveOptions &opt) {
  FieldResult login = make("task_struct.loginuid");
  FieldResult sess = make("task_struct.sessionid");
  // No /proc/<pid>/loginuid anywhere: CONFIG_AUDIT is off and task_struct has
  // neither field. Not a failure.
  bool any_file = false;
  for (const auto &t : trials)
    any_file |= t.leader.loginuid.has_value() || t.creds.loginuid.has_value();
  if (!any_file && !trials.empty()) {
    for (auto *f : {&login, &sess}) {
      f->status = FieldStatus::not_present;
      f->reason = "no /proc/<pid>/loginuid: kernel without audit (CONFIG_AUDIT=n)";
    }
    return {login, sess};
  }
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.loginuid_error.empty() && t.creds.snap.captured && t.leader.snap.captured &&
        t.creds.loginuid && t.creds.sessionid && t.leader.loginuid && t.leader.sessionid)
      usable.push_back(&t);
  if (usable.size() < opt.min_trials) {
    std::string why = first_error(trials, &Trial::loginuid_error);
    for (auto *f : {&login, &sess})
      unresolved(*f,
                 "only " + std::to_string(usable.size()) + " trials could set a loginuid (need " +
                     std::to_string(opt.min_trials) + ")" +
                     (why.empty() ? "" : ": writing /proc/self/loginuid: " + why),
                 why.empty());
    return {login, sess};
  }
  uint32_t limit = UINT32_MAX;
  for (const Trial *t : usable)
    limit = std::min<uint32_t>(limit, static_cast<uint32_t>(t->leader.snap.bytes.size()));
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);
  // C wrote a fresh loginuid (and got a fresh sessionid); L, T, G and N
  // hold what L inherited.
  auto pred = [](std::optional<uint32_t> Subject::*field) {
    return [field](const Trial &t, uint32_t o) {
      bool unknown = false;
      auto is = [&](const Subject &s, uint32_t want) {
        auto v = u32_at(s.snap, o);
        if (!v) {
          unknown = true;
          return true;
        }
        return *v == want;
      };
      uint32_t inherited = *(t.leader.*field);
      if (!is(t.creds, *(t.creds.*field)) || !is(t.leader, inherited))
        return Seen::mismatch;
      for (const Subject *s : {&t.thread, &t.grandchild, &t.unshared})
        if (s->snap.captured && !is(*s, inherited))
          return Seen::mismatch;
      return unknown ? Seen::unknown : Seen::match;
    };
  };
  uint32_t support = 0;
  auto lc = survivors(usable, limit, 4, 4, opt.min_trials, pred(&Subject::loginuid), &support);
  settle(login, lc, support, "no offset holds the loginuid C wrote in every trial");
  auto sc = survivors(usable, limit, 4, 4, opt.min_trials, pred(&Subject::sessionid), &support);
  settle(sess, sc, support, "no offset holds C's sessionid in every trial");
  return {login, sess};
}

} // namespace offsetprobe
