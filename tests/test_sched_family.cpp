// SPDX-License-Identifier: GPL-2.0-only
// The sched family (calibration/families/sched.cpp), the example of
// docs/adding-a-field-family.md: its catalogue entry, its predicates on
// synthetic trials with the decoys a real task_struct holds (prio and
// normal_prio equal static_prio in a normal task), on shuffled layouts, and
// when the real-time subject could not be made; its read-back check.
#include "calibration/model/catalogue.h"
#include "calibration/solve/chains.h"
#include "calibration/solve/readback_check.h"
#include "calibration/solve/solver.h"

#include "synthetic_trials.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

namespace offsetprobe::test {

namespace {

const char *const kStatic = "task_struct.static_prio";
const char *const kRt = "task_struct.rt_priority";
const char *const kPolicy = "task_struct.policy";

// Where the scheduling words sit in one synthetic layout: the three fields
// and the two decoys (prio, normal_prio), all 4-byte aligned and clear of
// the task family's default layout (tests/synthetic_trials.h).
struct SchedLayout {
  uint32_t static_prio, rt_priority, policy, prio, normal_prio;
};

// The kernel's own layout order (prio, static_prio, normal_prio,
// rt_priority ... policy), and shuffles of it: the rule must not depend on
// declaration order.
std::vector<SchedLayout> layouts() {
  std::vector<SchedLayout> out = {{704, 712, 800, 700, 708}};
  std::mt19937 rng(7);
  for (int n = 0; n < 6; n++) {
    std::vector<uint32_t> slots = {680, 684, 688, 692, 696, 700, 704, 708, 712, 716, 800, 804};
    std::shuffle(slots.begin(), slots.end(), rng);
    out.push_back({slots[0], slots[1], slots[2], slots[3], slots[4]});
  }
  return out;
}

void put(Subject &s, uint32_t off, int32_t v) {
  std::memcpy(s.snap.bytes.data() + off, &v, 4);
}

// Trial i with L, T, G set as the subjects set themselves: T real-time
// (unless `rt` is false: sched_setscheduler refused), L and G normal. The
// known values are what /proc would say.
std::vector<Trial> sched_trials(const SchedLayout &l, int n, bool rt = true) {
  Synth s;
  std::vector<Trial> out = s.trials(n);
  for (int i = 0; i < n; i++) {
    Trial &t = out[i];
    int idx = 0;
    for (Subject *x : {&t.leader, &t.thread, &t.grandchild}) {
      bool is_rt = rt && x == &t.thread;
      int32_t nice = (i * 7 + idx * 13) % 40 - 20;
      int32_t rt_prio = is_rt ? 1 + (i * 31 + 17) % 99 : 0;
      // L alternates OTHER and BATCH by trial; G takes the other one.
      int32_t policy = is_rt ? 1 + (i % 2) : (i + idx / 2) % 2 ? 3 : 0;
      int32_t static_prio = 120 + nice;
      int32_t prio = is_rt ? 99 - rt_prio : static_prio;
      put(*x, l.static_prio, static_prio);
      put(*x, l.rt_priority, rt_prio);
      put(*x, l.policy, policy);
      put(*x, l.prio, prio);
      put(*x, l.normal_prio, prio);
      x->known = {{kStatic, static_prio}, {kRt, rt_prio}, {kPolicy, policy}};
      idx++;
    }
  }
  return out;
}

std::vector<FieldResult> solve_sched(const std::vector<Trial> &trials) {
  std::string why;
  auto sel = FieldSelection::parse("sched", why);
  REQUIRE(sel);
  std::vector<FieldResult> fields = solve(trials, Synth().options());
  solve_declared(trials, Synth().options(), *sel, fields);
  return fields;
}

const FieldResult &field(const std::vector<FieldResult> &fs, const std::string &name) {
  auto it = std::find_if(fs.begin(), fs.end(), [&](const auto &f) { return f.name == name; });
  REQUIRE(it != fs.end());
  return *it;
}

} // namespace

TEST_CASE("sched: declared whole in the catalogue, selected by --fields sched") {
  const Family *fam = family_of(kStatic);
  REQUIRE(fam != nullptr);
  CHECK(fam->name == "sched");
  CHECK(fam->experiment == "predicates");
  CHECK(fam->in_subject);
  CHECK(fam->observe);
  for (const char *n : {kStatic, kRt, kPolicy}) {
    const FieldDef *d = find_field(n);
    REQUIRE(d != nullptr);
    CHECK(d->size == 4);
    CHECK(d->predicate);
    CHECK_FALSE(d->required);
  }
  std::string why;
  auto sel = FieldSelection::parse("sched", why);
  REQUIRE(sel);
  CHECK(sel->has(kPolicy));
  CHECK(sel->has("task_struct.pid")); // the task family always comes along
  CHECK_FALSE(sel->has("cred.uid"));
  CHECK(sel->has_family(*fam));
  CHECK_FALSE(FieldSelection::base().has_family(*fam));
  // Not a chain field, no second stage.
  for (const auto &f : chain_fields())
    CHECK(f.name != kPolicy);
  CHECK(plan_stages(field_graph(&*sel)).stages.size() <= 1);
}

TEST_CASE("sched: found among prio and normal_prio, on the kernel's order and shuffles") {
  for (const auto &l : layouts()) {
    CAPTURE(l.static_prio);
    CAPTURE(l.prio);
    auto fields = solve_sched(sched_trials(l, 3));
    CHECK(field(fields, kStatic).status == FieldStatus::calibrated);
    CHECK(field(fields, kStatic).offset == l.static_prio);
    CHECK(field(fields, kRt).offset == l.rt_priority);
    CHECK(field(fields, kPolicy).offset == l.policy);
    // The task family's fields are what solve() alone says.
    auto alone = solve(sched_trials(l, 3), Synth().options());
    for (const auto &f : alone) {
      CHECK(field(fields, f.name).status == f.status);
      CHECK(field(fields, f.name).offset == f.offset);
    }
  }
}

TEST_CASE("sched: without a real-time thread, cannot tell (never a guess)") {
  auto fields = solve_sched(sched_trials(layouts()[0], 3, false));
  for (const char *n : {kStatic, kRt, kPolicy}) {
    CAPTURE(n);
    CHECK(field(fields, n).status == FieldStatus::unresolved);
    CHECK(field(fields, n).reason.find("not SCHED_FIFO or SCHED_RR") != std::string::npos);
    CHECK_FALSE(field(fields, n).offset);
    CHECK_FALSE(field(fields, n).required); // the experiment could not run here
  }
}

TEST_CASE("sched: no values from /proc, or too few trials: unresolved") {
  auto trials = sched_trials(layouts()[0], 3);
  for (auto &t : trials)
    t.grandchild.known.clear();
  auto fields = solve_sched(trials);
  CHECK(field(fields, kStatic).status == FieldStatus::unresolved);
  CHECK(field(fields, kStatic).reason.find("no scheduling values") != std::string::npos);

  fields = solve_sched(sched_trials(layouts()[0], 2));
  CHECK(field(fields, kPolicy).status == FieldStatus::unresolved);

  // Testable but ambiguous: still required, so the calibration is incomplete.
  auto trials2 = sched_trials(layouts()[0], 3);
  for (auto &t : trials2)
    for (Subject *x : {&t.leader, &t.thread, &t.grandchild})
      put(*x, 900, static_cast<int32_t>(x->known.at(kStatic)));
  fields = solve_sched(trials2);
  CHECK(field(fields, kStatic).status == FieldStatus::ambiguous);
  CHECK(field(fields, kStatic).required);
}

// task_struct.mm_cid and last_mm_cid on 6.18: 0 in G (alone in its mm), 0
// or 1 in L and T (two threads of one mm). When L and G were both
// SCHED_OTHER and T SCHED_FIFO in all three trials, such a word matched
// policy everywhere (seen once in CI). The subjects now make L and G differ.
void put_cid_decoy(std::vector<Trial> &trials, uint32_t off) {
  for (size_t i = 0; i < trials.size(); i++) {
    put(trials[i].leader, off, static_cast<int32_t>(i % 2));
    put(trials[i].thread, off, static_cast<int32_t>(1 - i % 2));
    put(trials[i].grandchild, off, 0);
  }
}

TEST_CASE("sched: a small per-mm counter cannot pass for policy when L and G differ") {
  auto l = layouts()[0];
  auto trials = sched_trials(l, 3);
  put_cid_decoy(trials, 900);
  auto fields = solve_sched(trials);
  CHECK(field(fields, kPolicy).status == FieldStatus::calibrated);
  CHECK(field(fields, kPolicy).offset == l.policy);
}

TEST_CASE("sched: the old free choice (all SCHED_OTHER, T FIFO) is ambiguous, not wrong") {
  // The rule that L and G differ is what separates the counter: without it
  // (both 0 in every trial, T 1), the same decoy leaves policy ambiguous.
  auto l = layouts()[0];
  auto trials = sched_trials(l, 3);
  for (auto &t : trials)
    for (Subject *x : {&t.leader, &t.thread, &t.grandchild}) {
      int32_t p = x == &t.thread ? 1 : 0;
      put(*x, l.policy, p);
      x->known[kPolicy] = p;
    }
  // Here the counter must equal policy in each subject: 0 in L, 1 in T.
  for (auto &t : trials) {
    put(t.leader, 900, 0);
    put(t.thread, 900, 1);
    put(t.grandchild, 900, 0);
  }
  auto fields = solve_sched(trials);
  CHECK(field(fields, kPolicy).status == FieldStatus::ambiguous);
  CHECK(field(fields, kPolicy).candidates == std::vector<uint32_t>{l.policy, 900});
  CHECK_FALSE(field(fields, kPolicy).offset);
}

TEST_CASE("sched: a true copy of static_prio leaves it ambiguous") {
  auto l = layouts()[0];
  auto trials = sched_trials(l, 4);
  for (auto &t : trials)
    for (Subject *x : {&t.leader, &t.thread, &t.grandchild})
      put(*x, 900, static_cast<int32_t>(x->known.at(kStatic)));
  auto fields = solve_sched(trials);
  CHECK(field(fields, kStatic).status == FieldStatus::ambiguous);
  CHECK(field(fields, kStatic).candidates == std::vector<uint32_t>{l.static_prio, 900});
  CHECK(field(fields, kRt).offset == l.rt_priority);
}

TEST_CASE("sched: a field whose only candidate is a task field's offset is withdrawn") {
  auto l = layouts()[0];
  auto trials = sched_trials(l, 3);
  // pid sits at 200 (default_layout). Known rt_priority values that are the
  // tids (and a true rt_priority word that holds none of them) make 200 its
  // only candidate: one of the two is wrong, so neither is reported.
  for (auto &t : trials)
    for (Subject *x : {&t.leader, &t.thread, &t.grandchild}) {
      x->known[kRt] = static_cast<int32_t>(x->snap.tid);
      put(*x, l.rt_priority, -1);
    }
  auto fields = solve_sched(trials);
  CHECK(field(fields, kRt).status == FieldStatus::unresolved);
  CHECK(field(fields, kRt).candidates == std::vector<uint32_t>{200});
  CHECK(field(fields, "task_struct.pid").status == FieldStatus::unresolved);
  CHECK(field(fields, kRt).reason.find("overlaps task_struct.pid") != std::string::npos);
  CHECK(field(fields, kPolicy).offset == l.policy);
}

TEST_CASE("sched: the read-back check passes what /proc says and fails the rest") {
  std::vector<FieldResult> fields = FieldSelection::all().results();
  uint32_t off = 16;
  for (auto &f : fields) {
    f.status = FieldStatus::calibrated;
    f.offset = off;
    off += 16;
  }
  ReadbackPlan rp = readback_plan(fields);
  Trial t = sched_trials(layouts()[0], 1)[0];
  auto read = [&](const Subject &s, int32_t bump) {
    ReadValues r;
    r.captured = true;
    r.ok.assign(rp.plan.steps().size(), false);
    r.raw.assign(rp.plan.steps().size(), {});
    for (const char *n : {kStatic, kRt, kPolicy}) {
      auto step = rp.at({n});
      REQUIRE(step);
      int32_t v = static_cast<int32_t>(s.known.at(n)) + (n == std::string(kRt) ? bump : 0);
      r.ok[*step] = true;
      r.raw[*step].resize(4);
      std::memcpy(r.raw[*step].data(), &v, 4);
    }
    return r;
  };
  for (int32_t bump : {0, 1}) {
    auto fs = fields;
    std::map<Role, ReadValues> seen = {{Role::leader, read(t.leader, 0)},
                                       {Role::thread, read(t.thread, bump)},
                                       {Role::grandchild, read(t.grandchild, 0)}};
    ReadbackCheck c(fs, rp, t, seen, 0, 10'000'000);
    family_of(kStatic)->verify(c);
    CHECK(field(fs, kStatic).validation == Validation::passed);
    CHECK(field(fs, kPolicy).validation == Validation::passed);
    if (bump == 0) {
      CHECK(field(fs, kRt).validation == Validation::passed);
    } else {
      CHECK(field(fs, kRt).status == FieldStatus::unresolved);
      CHECK(field(fs, kRt).validation == Validation::failed);
    }
  }
}

} // namespace offsetprobe::test
