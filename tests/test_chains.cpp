// SPDX-License-Identifier: GPL-2.0-only
// The chain stage on synthetic data: stage ordering, the stage-1 pointer
// filters, loginuid/sessionid, and the joint pointer + member solving of
// cred, mm_struct and nsproxy -> namespaces, each with decoys. The
// randomized-layout cases are in test_chains_randomized.cpp.
#include "tests/chain_trials.h"

#include <doctest/doctest.h>

namespace offsetprobe::test {

TEST_CASE("stage ordering: pointers before what lies behind them") {
  auto plan = plan_stages(chain_field_graph());
  REQUIRE(plan.error.empty());
  REQUIRE(plan.stages.size() == 2);
  std::vector<std::string> order;
  for (const auto &st : plan.stages)
    order.insert(order.end(), st.begin(), st.end());
  auto pos = [&](const std::string &n) {
    return std::find(order.begin(), order.end(), n) - order.begin();
  };
  for (const auto &d : chain_field_graph())
    for (const auto &r : d.needs)
      CHECK_MESSAGE(pos(r) < pos(d.name), d.name << " before " << r);
  auto in = [&](size_t stage, const std::string &n) {
    return std::count(plan.stages[stage].begin(), plan.stages[stage].end(), n) == 1;
  };
  CHECK(in(0, "task_struct.cred"));
  CHECK(in(0, "task_struct.loginuid"));
  CHECK(in(1, "cred.uid"));
  CHECK(in(1, "nsproxy.uts_ns"));
  CHECK(in(1, "uts_namespace.ns.inum")); // two pointers away: same load
  CHECK(in(1, "mm_struct.arg_end"));

  SUBCASE("an unknown requirement") {
    auto p = plan_stages({{"a.x", {"task_struct.nope"}}});
    CHECK(p.stages.empty());
    CHECK(p.error.find("no field provides") != std::string::npos);
  }
  SUBCASE("a cycle") {
    auto p = plan_stages({{"a", {"b"}}, {"b", {"a"}}});
    CHECK(p.error.find("cycle") != std::string::npos);
  }
  SUBCASE("three pointers deep") {
    auto p = plan_stages({{"p", {}}, {"q", {"p"}}, {"r", {"q"}}, {"s", {"r"}}});
    CHECK(p.error.find("at most 2") != std::string::npos);
  }
}

TEST_CASE("stage 1: pointer candidates by relation, decoys excluded") {
  std::vector<Trial> ts;
  for (uint32_t i = 1; i <= 3; i++)
    ts.push_back(make_trial(i));
  auto r = chain_plan(ts, opts(), 24, 2);
  REQUIRE(r.error.empty());
  std::vector<uint32_t> want_priv = {kMm, kActiveMm, kRealCred, kCred};
  std::vector<uint32_t> priv(r.plan.ptr_offsets.begin(),
                             r.plan.ptr_offsets.begin() + static_cast<long>(r.private_count));
  CHECK(priv == want_priv);
  REQUIRE(r.plan.nested_of.size() == 1);
  CHECK(r.plan.ptr_offsets[r.plan.nested_of[0]] == kNsproxy);
  // kStatic (same everywhere), kUserPtr (not a kernel pointer) and the task
  // pointer at 8 never appear.
  for (uint32_t o : r.plan.ptr_offsets)
    CHECK((o != kStatic && o != kUserPtr && o != 8));

  SUBCASE("N did not unshare: no nsproxy candidate") {
    for (auto &t : ts)
      put(t.unshared.snap, kNsproxy, t.leader.snap.load<uint64_t>(kNsproxy));
    auto r2 = chain_plan(ts, opts(), 24, 2);
    CHECK(r2.plan.nested_of.empty());
  }
  SUBCASE("more candidates than the scanner holds") {
    auto r2 = chain_plan(ts, opts(), 3, 2);
    CHECK(r2.error.find("exceed") != std::string::npos);
  }
  SUBCASE("fewer than three trials") {
    ts.pop_back();
    CHECK(!chain_plan(ts, opts(), 24, 2).error.empty());
  }
  SUBCASE("per-CPU pointers (a run queue): related within each trial, not across") {
    // Two CPUs: L, T, G and C ran on one and N on the other in every trial,
    // so each word looks like nsproxy (shared, N's differs) or like cred (L's
    // and T's, each child's its own) within the trial. Across trials L's
    // nsproxy-like value changes and two N's share one, and two leaders share
    // a "private" one: neither survives.
    const uint64_t rq[2] = {kaddr(0, 500), kaddr(0, 501)};
    for (uint32_t i = 0; i < 3; i++) {
      auto &t = ts[i];
      uint32_t cpu = i % 2;
      for (Subject *sub : {&t.leader, &t.thread, &t.grandchild, &t.exiter, &t.creds})
        put(sub->snap, 400, rq[cpu]);
      put(t.unshared.snap, 400, rq[1 - cpu]);
      // Private-looking: L and T on one CPU, each other subject elsewhere.
      for (Subject *sub : {&t.leader, &t.thread})
        put(sub->snap, 408, rq[0]);
      for (Subject *sub : {&t.grandchild, &t.creds, &t.unshared})
        put(sub->snap, 408, kaddr(i + 1, 600 + static_cast<uint32_t>(sub->role)));
    }
    auto r2 = chain_plan(ts, opts(), 24, 1);
    REQUIRE(r2.error.empty());
    REQUIRE(r2.plan.nested_of.size() == 1);
    CHECK(r2.plan.ptr_offsets[r2.plan.nested_of[0]] == kNsproxy);
    for (uint32_t o : r2.plan.ptr_offsets)
      CHECK((o != 400 && o != 408));
  }
}

// Debian's kernels have CONFIG_X86_5LEVEL=y: on a CPU with LA57 (QEMU's
// `-cpu max`, Ice Lake and later servers) the direct map, where struct cred,
// mm_struct and nsproxy live, is at 0xff11... + KASLR, below 0xffff000000000000.
TEST_CASE("stage 1: pointers of a 5-level paging kernel are kernel pointers") {
  g_kbase = 0xff44dcd400000000ull; // as seen in a 6.12 guest under QEMU -cpu max
  std::vector<Trial> ts;
  for (uint32_t i = 1; i <= 3; i++)
    ts.push_back(make_trial(i));
  g_kbase = 0xffff888000000000ull;
  auto r = chain_plan(ts, opts(), 24, 2);
  REQUIRE(r.error.empty());
  CHECK(r.private_count == 4);
  REQUIRE(r.plan.nested_of.size() == 1);
  CHECK(r.plan.ptr_offsets[r.plan.nested_of[0]] == kNsproxy);
}

// arm64: the linear map starts at 0xffff000000000000 with 48-bit VAs
// (0xffff15e6... in a 5.10 guest) and at 0xfff0000000000000 with 52-bit VAs
// (Debian's trixie kernels, CONFIG_ARM64_VA_BITS=52): both above the floor.
TEST_CASE("stage 1: pointers of an arm64 kernel (48- and 52-bit VA) are kernel pointers") {
  for (uint64_t base : {0xffff15e600000000ull, 0xfff0400000000000ull}) {
    CAPTURE(base);
    g_kbase = base;
    std::vector<Trial> ts;
    for (uint32_t i = 1; i <= 3; i++)
      ts.push_back(make_trial(i));
    g_kbase = 0xffff888000000000ull;
    auto r = chain_plan(ts, opts(), 24, 2);
    REQUIRE(r.error.empty());
    CHECK(r.private_count == 4);
    REQUIRE(r.plan.nested_of.size() == 1);
    CHECK(r.plan.ptr_offsets[r.plan.nested_of[0]] == kNsproxy);
  }
}

TEST_CASE("loginuid and sessionid") {
  std::vector<Trial> ts;
  for (uint32_t i = 1; i <= 3; i++)
    ts.push_back(make_trial(i));
  auto r = solve_audit(ts, opts());
  CHECK(field(r, "task_struct.loginuid").offset == kLoginuid);
  CHECK(field(r, "task_struct.sessionid").offset == kSessionid);
  CHECK(field(r, "task_struct.loginuid").status == FieldStatus::calibrated);

  SUBCASE("no /proc/<pid>/loginuid: not present, not a failure") {
    for (auto &t : ts) {
      t.leader.loginuid.reset();
      t.creds.loginuid.reset();
      t.loginuid_error = "open:ENOENT";
    }
    auto r2 = solve_audit(ts, opts());
    CHECK(field(r2, "task_struct.loginuid").status == FieldStatus::not_present);
    CHECK(field(r2, "task_struct.sessionid").status == FieldStatus::not_present);
  }
  SUBCASE("writing it refused: unresolved, not required") {
    for (auto &t : ts)
      t.loginuid_error = "write:EPERM";
    auto r2 = solve_audit(ts, opts());
    CHECK(field(r2, "task_struct.loginuid").status == FieldStatus::unresolved);
    CHECK(!field(r2, "task_struct.loginuid").required);
    CHECK(field(r2, "task_struct.loginuid").reason.find("EPERM") != std::string::npos);
  }
}

TEST_CASE("cred: ids behind the pointer, real_cred before cred") {
  auto ts = trials_with_chains();
  auto r = solve_chains(ts, opts());
  CHECK(field(r, "task_struct.real_cred").offset == kRealCred);
  CHECK(field(r, "task_struct.cred").offset == kCred);
  for (uint32_t k = 0; k < 8; k++) {
    const auto &f = field(r, std::string("cred.") + kCredIds[k]);
    CHECK(f.status == FieldStatus::calibrated);
    CHECK(f.offset == kCredUid + 4 * k);
  }
  SUBCASE("the two pointers differ somewhere: no declaration-order split") {
    for (auto &t : ts)
      put(t.grandchild.snap, kCred, uint64_t(kaddr(9, 9)));
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "task_struct.cred").status == FieldStatus::ambiguous);
    CHECK(field(r2, "cred.uid").status == FieldStatus::calibrated);
  }
  // A stale cred of C's, freed next to the live one in the slab, repeats ids
  // 1344 bytes further on (within the 1.5 KiB copied) in every trial.
  auto stale_neighbour = [&](uint32_t how_many) {
    for (auto &t : ts)
      for (size_t i = 0; i < t.creds.chain.ptr_offsets.size(); i++) {
        uint32_t off = t.creds.chain.ptr_offsets[i];
        if (off == kRealCred || off == kCred)
          for (uint32_t k = 0; k < how_many; k++)
            put(t.creds.chain.pointees[i], kCredUid + 1344 + 4 * (3 + k),
                (*t.creds.cred_ids)[3 + k]);
      }
  };
  SUBCASE("a stale neighbour repeats sgid: declaration order places it") {
    stale_neighbour(1);
    auto r2 = solve_chains(ts, opts());
    const auto &f = field(r2, "cred.sgid");
    CHECK(f.status == FieldStatus::calibrated);
    CHECK(f.offset == kCredUid + 12);
    CHECK(f.reason.find("declaration order") != std::string::npos);
    CHECK(field(r2, "cred.uid").offset == kCredUid);
  }
  SUBCASE("...but not when fewer than four ids are placed without it") {
    stale_neighbour(5); // sgid, euid, egid, fsuid, fsgid repeated: only 3 left
    auto r2 = solve_chains(ts, opts());
    for (const char *id : {"sgid", "euid", "egid", "fsuid", "fsgid"}) {
      CAPTURE(id);
      CHECK(field(r2, std::string("cred.") + id).status == FieldStatus::ambiguous);
    }
  }
  SUBCASE("setresuid refused: unresolved with the reason, not required") {
    for (auto &t : ts)
      t.creds_error = "setresuid:EPERM";
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "cred.uid").status == FieldStatus::unresolved);
    CHECK(!field(r2, "cred.uid").required);
  }
}

TEST_CASE("mm_struct: layout fields, arg_end/env_start, the AT_EXECFN twin, mm vs active_mm") {
  auto ts = trials_with_chains();
  auto r = solve_chains(ts, opts());
  for (uint32_t k = 0; k < 10; k++) {
    const auto &f = field(r, std::string("mm_struct.") + kMmFields[k]);
    CHECK_MESSAGE(f.status == FieldStatus::calibrated, f.name << ": " << f.reason);
    CHECK(f.offset == kMmStart + 8 * (k >= 5 ? k + 1 : k));
  }
  CHECK(field(r, "task_struct.mm").offset == kMm);
  CHECK(field(r, "task_struct.active_mm").offset == kActiveMm);
  CHECK(field(r, "task_struct.mm").reason.find("declaration order") != std::string::npos);

  SUBCASE("N could not move its layout: adjacency rules decide") {
    unmoved_layout(ts);
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "mm_struct.arg_end").offset == kMmStart + 64);
    CHECK(field(r2, "mm_struct.env_start").offset == kMmStart + 72);
    CHECK(field(r2, "mm_struct.env_end").offset == kMmStart + 80);
    CHECK(field(r2, "mm_struct.env_end").reason.find("AT_EXECFN") != std::string::npos);
  }
  SUBCASE("the exiter's mm is NULL at exit: the experiment decides") {
    for (auto &t : ts)
      put(t.exiter.snap, kMm, uint64_t(0));
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "task_struct.mm").offset == kMm);
    CHECK(field(r2, "task_struct.active_mm").offset == kActiveMm);
    CHECK(field(r2, "task_struct.mm").reason.find("exit_mm") != std::string::npos);
  }
  SUBCASE("...even against declaration order") {
    for (auto &t : ts)
      put(t.exiter.snap, kActiveMm, uint64_t(0));
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "task_struct.mm").offset == kActiveMm);
    CHECK(field(r2, "task_struct.active_mm").offset == kMm);
  }
}

TEST_CASE("nsproxy -> namespaces -> ns.inum") {
  auto ts = trials_with_chains();
  auto r = solve_chains(ts, opts());
  CHECK(field(r, "task_struct.nsproxy").offset == kNsproxy);
  static const uint32_t slot[7] = {8, 16, 24, 32, 40, 48, 64};
  for (size_t k = 0; k < kNsKinds.size(); k++) {
    const auto &p = field(r, std::string("nsproxy.") + kNsKinds[k].member);
    const auto &i = field(r, std::string(kNsKinds[k].struct_name) + ".ns.inum");
    CHECK_MESSAGE(p.offset == slot[k], p.name << ": " << p.reason);
    CHECK(i.offset == kNsInum[k]);
  }
  SUBCASE("NEWTIME refused: time_ns and time_ns_for_children stay twins") {
    for (size_t ti = 0; ti < ts.size(); ti++)
      for (auto &ns : ts[ti].unshared.chain.nested[0])
        if (ns.task_addr == kaddr(uint32_t(ti + 1), 47))
          put(ns, kNsInum[5], ts[ti].unshared.ns_inum.at("time"));
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "nsproxy.time_ns").status == FieldStatus::ambiguous);
    CHECK(field(r2, "time_namespace.ns.inum").offset == kNsInum[5]);
    CHECK(field(r2, "nsproxy.uts_ns").offset == 8u);
  }
  SUBCASE("a kernel without time namespaces: not present") {
    for (auto &t : ts) {
      t.leader.ns_inum.erase("time");
      t.unshared.ns_inum.erase("time");
    }
    auto r2 = solve_chains(ts, opts());
    CHECK(field(r2, "nsproxy.time_ns").status == FieldStatus::not_present);
    CHECK(field(r2, "time_namespace.ns.inum").status == FieldStatus::not_present);
    CHECK(field(r2, "nsproxy.net_ns").offset == 40u);
  }
}

TEST_CASE("chain field names are struct.member paths") {
  for (const auto &f : chain_fields()) {
    CHECK(f.name == f.struct_name + "." + f.member);
    CHECK((f.size == 4 || f.size == 8));
  }
  CHECK(field(chain_fields(), "net.ns.inum").member == "ns.inum");
}

} // namespace offsetprobe::test
