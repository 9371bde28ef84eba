// SPDX-License-Identifier: GPL-2.0-only
// The scheduling fields in task_struct's own bytes: static_prio, rt_priority
// and policy. The example family of docs/adding-a-field-family.md: everything
// the engine needs to find, read back and verify them is in this file.
//
// The experiment: each subject picks its own random values (in_subject). L
// runs SCHED_OTHER or SCHED_BATCH at a random nice, and G (L's child) the
// one L did not take; T (a thread of L) runs SCHED_FIFO or SCHED_RR at a
// random rt_priority and nice. The calibrator reads what each really got
// from /proc (observe), so a refused call is seen, never assumed. The
// predicates then want each subject's own value at the offset, in every
// trial.
#include "calibration/families/families.h"
#include "calibration/solve/readback_check.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

namespace offsetprobe::families {

namespace {

const char *const kStaticPrio = "task_struct.static_prio";
const char *const kRtPriority = "task_struct.rt_priority";
const char *const kPolicy = "task_struct.policy";

bool realtime(int64_t policy) {
  return policy == SCHED_FIFO || policy == SCHED_RR;
}

// In the subject's own task: a random nice and policy (and rt_priority for
// T). Failures are left for observe() to see: an unprivileged run keeps
// SCHED_OTHER and nice 0, and the predicates then say why they cannot tell.
void in_subject(Role role) {
  if (role != Role::leader && role != Role::thread && role != Role::grandchild)
    return;
  std::random_device rd;
  std::mt19937 rng(rd());
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  sched_param p{};
  int policy = SCHED_OTHER;
  if (role == Role::thread) {
    // The one real-time subject: in T, prio and normal_prio are
    // 99 - rt_priority while static_prio stays 120 + nice, which is what
    // tells static_prio from its two neighbours (equal to it in L and G).
    policy = pick(0, 1) ? SCHED_FIFO : SCHED_RR;
    p.sched_priority = pick(1, 99);
  } else if (role == Role::leader) {
    // SCHED_BATCH against SCHED_OTHER: L's and G's policy is not always 0,
    // so a word that is merely 0 in them cannot pass for policy.
    policy = pick(0, 1) ? SCHED_BATCH : SCHED_OTHER;
  } else {
    // G, forked by L after L's own choice, inherits it and takes the other
    // one: L and G differ in every trial, one 0 and one 3. With a free
    // choice each, both were SCHED_OTHER with T SCHED_FIFO in 1 trial in 8,
    // and a small counter (task_struct.mm_cid and last_mm_cid: 0 in G, 0 or
    // 1 in L and T) matched policy in all three trials of 1 run in a few
    // hundred (sched_live, CI, 6.18: policy ambiguous, 780 against 2704 and
    // 2708). A word must now be 3 in L or G in every trial to pass.
    policy = sched_getscheduler(0) == SCHED_BATCH ? SCHED_OTHER : SCHED_BATCH;
  }
  (void)sched_setscheduler(tid, policy, &p);
  // After the policy: set_user_nice() keeps static_prio up to date for a
  // real-time task too. A negative nice needs CAP_SYS_NICE (as T's real-time
  // policy does: without it the family cannot tell anyway). Never a positive
  // nice: L answers the subject host, and at nice 19 (SCHED_BATCH too) on a
  // loaded machine it was starved past the 10 s answer timeout (exit 9, seen
  // under tests/concurrency_show.sh with two CPU burners: 3 runs in 15).
  // 20 values, 100..119 in static_prio, still random per subject and trial.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(tid), pick(-20, -1));
}

// /proc/<pid>/task/<tid>/stat fields 19 (nice), 40 (rt_priority) and 41
// (policy), proc(5); the values the kernel holds in the three fields.
void observe(Role, const std::string &task_dir, std::map<std::string, int64_t> &known) {
  std::ifstream in(task_dir + "/stat");
  std::string line;
  if (!std::getline(in, line))
    return;
  size_t close = line.rfind(')'); // the comm may hold spaces; the cookie does not
  if (close == std::string::npos)
    return;
  std::istringstream is(line.substr(close + 1));
  std::vector<std::string> f(2); // f[i]: field i + 1; fields 1 and 2 skipped
  for (std::string w; is >> w;)
    f.push_back(w);
  if (f.size() <= 41)
    return;
  try {
    known[kStaticPrio] = 120 + std::stoll(f[19 - 1]);
    known[kRtPriority] = std::stoll(f[40 - 1]);
    known[kPolicy] = std::stoll(f[41 - 1]);
  } catch (const std::exception &) {
    known.clear();
  }
}

std::optional<int64_t> known(const Subject &s, const char *field) {
  auto it = s.known.find(field);
  if (it == s.known.end())
    return std::nullopt;
  return it->second;
}

// Each of L, T and G must hold its own known value at the offset.
Predicate holds_own(const char *field) {
  return [field](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    for (const Subject *s : {&t.leader, &t.thread, &t.grandchild}) {
      auto want = known(*s, field);
      if (!want)
        return Verdict::unknown;
      c.need(check<int32_t>(*s, o, equals<int32_t>(static_cast<int32_t>(*want))));
    }
    return c.v;
  };
}

// A trial tests the fields only when L, T and G were captured, their values
// were read, and T runs a real-time policy: without it, static_prio equals
// prio and normal_prio in every subject, and rt_priority is 0 everywhere.
std::string cannot_test(const Trial &t) {
  for (const Subject *s : {&t.leader, &t.thread, &t.grandchild}) {
    if (!s->snap.captured)
      return "not captured: " + std::string(s == &t.leader   ? "leader"
                                            : s == &t.thread ? "thread"
                                                             : "grandchild");
    if (!known(*s, kPolicy))
      return "no scheduling values read from /proc";
  }
  int64_t policy = *known(t.thread, kPolicy);
  if (!realtime(policy) || *known(t.thread, kRtPriority) == 0)
    return "the thread runs policy " + std::to_string(policy) +
           ", not SCHED_FIFO or SCHED_RR: sched_setscheduler() was refused (no CAP_SYS_NICE, "
           "or a cgroup without real-time runtime)";
  return "";
}

// The validation subject's L, T and G, read through the offsets, against
// what /proc says of them.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  for (const char *field : {kStaticPrio, kRtPriority, kPolicy}) {
    Step step = c.step({field});
    bool ok = true;
    std::string detail;
    for (auto [role, s] : {std::pair{Role::leader, &t.leader}, std::pair{Role::thread, &t.thread},
                           std::pair{Role::grandchild, &t.grandchild}}) {
      const ReadValues &r = c.seen(role);
      auto want = known(*s, field);
      int32_t got = r.value_or_zero<int32_t>(step);
      if (!want || !r.has(step) || got != *want) {
        ok = false;
        if (detail.empty())
          detail = std::string(field) + " read back as " + std::to_string(got) + ", want " +
                   (want ? std::to_string(*want) : "-");
      }
    }
    c.check(field, ok, detail);
  }
}

} // namespace

Family sched() {
  Family f;
  f.name = "sched";
  f.summary = "task_struct.static_prio, rt_priority and policy (the scheduling class)";
  // int static_prio, unsigned int rt_priority, unsigned int policy.
  auto field = [](const char *name, const char *known) {
    FieldDef d;
    d.struct_name = "task_struct";
    d.member = std::string(name).substr(std::string("task_struct.").size());
    d.size = 4;
    d.align = 4;
    d.known = known;
    d.predicate = holds_own(name);
    d.cannot_test = cannot_test;
    return d;
  };
  f.fields = {
      field(kStaticPrio, "120 + each subject's random nice (setpriority), /proc/<tid>/stat 19"),
      field(kRtPriority, "T's random 1..99 (sched_setscheduler), 0 in L and G; /proc stat 40"),
      field(kPolicy,
            "T: SCHED_FIFO or SCHED_RR, L and G: one SCHED_OTHER, one SCHED_BATCH; stat 41"),
  };
  // Not required: a run without CAP_SYS_NICE cannot tell them, and nothing
  // else depends on them. solve_declared() then marks them not required
  // when no trial could test them; found but not read back, or ambiguous,
  // they still make the calibration incomplete.
  for (auto &d : f.fields)
    d.required = false;
  f.roles = {
      {Role::leader, "L: SCHED_OTHER or SCHED_BATCH at a random nice"},
      {Role::thread, "T: SCHED_FIFO or SCHED_RR at a random rt_priority 1..99 and nice"},
      {Role::grandchild, "G: the normal policy L did not take (BATCH or OTHER), a random nice"},
  };
  f.rule = "A 4-byte word holding each of L's, T's and G's own value (from /proc), in every "
           "trial. prio and normal_prio equal static_prio in L and G but are 99 - rt_priority "
           "in T, the real-time thread: a trial whose T did not get SCHED_FIFO/RR cannot test "
           "the fields. No declaration-order rule.";
  f.readback = {{{kStaticPrio}}, {{kRtPriority}}, {{kPolicy}}};
  f.verify = verify;
  f.in_subject = in_subject;
  f.observe = observe;
  // Solved by the predicates above on the engine's stage-1 trials.
  f.experiment = "predicates";
  return f;
}

} // namespace offsetprobe::families
