// SPDX-License-Identifier: GPL-2.0-only
// The chain stage on a randomized (randstruct) layout: the declaration-order
// rules stand down, and what they would have split stays ambiguous unless
// an experiment splits it. Synthetic trials from chain_trials.h.
#include "tests/chain_trials.h"

#include <doctest/doctest.h>

#include <array>

namespace offsetprobe::test {

namespace {

// A shuffled task_struct for one test: the four pointers where `at` says.
struct Shuffle {
  Shuffle(uint32_t mm, uint32_t active_mm, uint32_t real_cred, uint32_t cred) {
    kMm = mm;
    kActiveMm = active_mm;
    kRealCred = real_cred;
    kCred = cred;
  }
  ~Shuffle() {
    kMm = 64;
    kActiveMm = 72;
    kRealCred = 96;
    kCred = 104;
  }
};

SolveOptions randomized() {
  SolveOptions o = opts();
  o.layout = {true, "task_struct.tgid (1112) is not after .pid (1864)"};
  return o;
}

// Rewrites struct cred's ids in every captured pointee at `place[k]` instead
// of their declared places: a shuffled struct cred.
void shuffle_cred_ids(std::vector<Trial> &ts, const std::array<uint32_t, 8> &place) {
  for (auto &t : ts)
    for (Subject *s : {&t.leader, &t.creds, &t.unshared})
      for (size_t i = 0; i < s->chain.ptr_offsets.size(); i++) {
        uint32_t off = s->chain.ptr_offsets[i];
        if (off != kRealCred && off != kCred)
          continue;
        auto &pt = s->chain.pointees[i];
        for (uint32_t k = 0; k < 8; k++)
          put(pt, kCredUid + 4 * k, uint32_t(0xdead0000 + k));
        for (uint32_t k = 0; k < 8; k++)
          put(pt, place[k], (*s->cred_ids)[k]);
      }
}

} // namespace

TEST_CASE("randomized layout: cred directly before real_cred (kernel b) is never split") {
  // The old rule named the first of an adjacent equal pair real_cred: on a
  // kernel whose seed put cred first, both answers were wrong. The captures
  // cannot tell which is which, so the only right answer is "cannot tell",
  // and the ids are still found and read through either.
  Shuffle sh(64, 72, 104, 96); // cred at 96, real_cred at 104
  auto ts = trials_with_chains();
  auto check_pair = [](const std::vector<FieldResult> &r) {
    for (const char *p : {"task_struct.real_cred", "task_struct.cred"}) {
      const auto &f = field(r, p);
      CAPTURE(p);
      CHECK(f.status == FieldStatus::ambiguous);
      CHECK_FALSE(f.offset.has_value());
      CHECK(f.candidates == std::vector<uint32_t>{96, 104});
      CHECK(f.interchangeable);
      CHECK(f.reason.find("randomized layout detected") != std::string::npos);
    }
    for (uint32_t k = 0; k < 8; k++)
      CHECK(field(r, std::string("cred.") + kCredIds[k]).status == FieldStatus::calibrated);
  };
  SUBCASE("known from the task fields") {
    auto r = solve_chains(ts, randomized());
    check_pair(r);
    CHECK(field(r, "cred.uid").offset == kCredUid);
  }
  SUBCASE("detected from struct cred's own ids out of declaration order") {
    std::array<uint32_t, 8> place = {28, 8, 20, 12, 36, 16, 24, 32};
    shuffle_cred_ids(ts, place);
    auto r = solve_chains(ts, opts());
    check_pair(r);
    for (uint32_t k = 0; k < 8; k++)
      CHECK(field(r, std::string("cred.") + kCredIds[k]).offset == place[k]);
  }
  SUBCASE("control: the same captures on a declared layout are split (the rule still runs)") {
    auto r = solve_chains(ts, opts());
    CHECK(field(r, "task_struct.real_cred").offset == 96u);
    CHECK_FALSE(field(r, "task_struct.real_cred").interchangeable);
  }
}

TEST_CASE("randomized layout: the cred ids' declaration-order rule stands down") {
  auto ts = trials_with_chains();
  // A stale neighbour repeats sgid 1344 bytes on (the case the rule settles).
  for (auto &t : ts)
    for (size_t i = 0; i < t.creds.chain.ptr_offsets.size(); i++) {
      uint32_t off = t.creds.chain.ptr_offsets[i];
      if (off == kRealCred || off == kCred)
        put(t.creds.chain.pointees[i], kCredUid + 1344 + 12, (*t.creds.cred_ids)[3]);
    }
  auto r = solve_chains(ts, randomized());
  CHECK(field(r, "cred.sgid").status == FieldStatus::ambiguous);
  CHECK(field(r, "cred.uid").offset == kCredUid);
}

TEST_CASE("randomized layout: mm vs active_mm by the exiter wherever they sit") {
  SUBCASE("far apart, the exiter's mm NULL at exit: decided by experiment") {
    Shuffle sh(88, 40, 96, 104); // active_mm at 40, mm at 88
    auto ts = trials_with_chains();
    for (auto &t : ts)
      put(t.exiter.snap, kMm, uint64_t(0));
    auto r = solve_chains(ts, randomized());
    CHECK(field(r, "task_struct.mm").offset == 88u);
    CHECK(field(r, "task_struct.active_mm").offset == 40u);
    CHECK(field(r, "mm_struct.start_code").status == FieldStatus::calibrated);
  }
  SUBCASE("active_mm directly before mm, equal at exit: interchangeable, never split") {
    Shuffle sh(72, 64, 96, 104);
    auto ts = trials_with_chains();
    auto r = solve_chains(ts, randomized());
    for (const char *p : {"task_struct.mm", "task_struct.active_mm"}) {
      const auto &f = field(r, p);
      CAPTURE(p);
      CHECK(f.status == FieldStatus::ambiguous);
      CHECK(f.interchangeable);
      CHECK(f.candidates == std::vector<uint32_t>{64, 72});
    }
    for (uint32_t k = 0; k < 10; k++)
      CHECK(field(r, std::string("mm_struct.") + kMmFields[k]).status == FieldStatus::calibrated);
  }
}

TEST_CASE("randomized layout: arg_end / env_start and the AT_EXECFN twin stay ambiguous") {
  // N could not move its layout (no PR_SET_MM_MAP): only adjacency decided.
  auto ts = trials_with_chains();
  unmoved_layout(ts);
  auto r = solve_chains(ts, randomized());
  for (const char *m : {"mm_struct.arg_end", "mm_struct.env_start", "mm_struct.env_end"}) {
    CAPTURE(m);
    CHECK(field(r, m).status == FieldStatus::ambiguous);
    CHECK(field(r, m).reason.find("randomized layout detected") != std::string::npos);
  }
  CHECK(field(r, "mm_struct.start_code").status == FieldStatus::calibrated);
}

} // namespace offsetprobe::test
