// SPDX-License-Identifier: GPL-2.0-only
// The chain stage on synthetic data: stage ordering, the stage-1 pointer
// filters, loginuid/sessionid, and the joint pointer + member solving of
// cred, mm_struct and nsproxy -> namespaces, each with decoys.
#include "calibration/chains.h"
#include "calibration/families/families.h"
#include "calibration/families/ns.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace offsetprobe::test {

namespace {

constexpr uint32_t kTask = 512; // synthetic task_struct size
// Synthetic layout.
// The four pointers a shuffled layout moves are variables (a test moves them
// and puts them back with Shuffle).
uint32_t kMm = 64, kActiveMm = 72, kRealCred = 96, kCred = 104;
constexpr uint32_t kNsproxy = 128, kStatic = 136, kLoginuid = 160, kSessionid = 164, kUserPtr = 176;
constexpr uint32_t kCredUid = 8;   // ids at 8..36 in struct cred
constexpr uint32_t kMmStart = 200; // layout fields at 200.. in mm_struct
constexpr uint32_t kNsInum[7] = {40, 44, 24, 112, 152, 16, 28}; // per kind

Snapshot blank(uint32_t size, uint64_t addr) {
  Snapshot s;
  s.captured = true;
  s.task_addr = addr;
  s.chunk_size = 256;
  s.bytes.assign(size, 0);
  s.readable = ~0ull;
  return s;
}
template <typename T> void put(Snapshot &s, uint32_t off, T v) {
  std::memcpy(s.bytes.data() + off, &v, sizeof(T));
}

// The direct map's base: 4-level paging by default; a test sets the base a
// 5-level (LA57) kernel uses, 0xff11000000000000 before KASLR.
uint64_t g_kbase = 0xffff888000000000ull;

uint64_t kaddr(uint32_t trial, uint32_t what) {
  return g_kbase + (uint64_t(trial) << 24) + (uint64_t(what) << 12);
}

// One synthetic trial; `seed` varies every known value.
Trial make_trial(uint32_t seed, bool decoys = true) {
  Trial t;
  Subject *subs[] = {&t.leader, &t.thread, &t.grandchild, &t.exiter, &t.creds, &t.unshared};
  for (uint32_t i = 0; i < 6; i++) {
    subs[i]->role = static_cast<Role>(i);
    subs[i]->snap = blank(kTask, kaddr(seed, 100 + i));
  }
  // cred/mm: L and T share, each forked child has its own.
  for (uint32_t i = 0; i < 6; i++) {
    uint32_t owner = i == 1 ? 0 : i; // T shares L's
    uint64_t cred = kaddr(seed, 10 + owner), mm = kaddr(seed, 20 + owner);
    put(subs[i]->snap, kRealCred, cred);
    put(subs[i]->snap, kCred, cred);
    put(subs[i]->snap, kMm, mm);
    put(subs[i]->snap, kActiveMm, mm);
    // nsproxy: the subject host's, shared by all but N in every trial; each
    // N has its own.
    put(subs[i]->snap, kNsproxy, i == 5 ? kaddr(seed, 31) : kaddr(0, 30));
    // A pointer to a static object: the same in everyone (a decoy for both).
    put(subs[i]->snap, kStatic, uint64_t(0xffffffff81000000ull));
    // A user-space pointer that differs per task (not a kernel pointer).
    put(subs[i]->snap, kUserPtr, uint64_t(0x7ffd00000000ull + i * 4096));
    // loginuid/sessionid: inherited from L, C's own.
    put(subs[i]->snap, kLoginuid, i == 4 ? 2000000 + seed : 4294967295u);
    put(subs[i]->snap, kSessionid, i == 4 ? 10 + seed : 4294967295u);
  }
  // A group_leader-like pointer (task addresses) must not be a candidate.
  for (uint32_t i = 0; i < 6; i++)
    put(subs[i]->snap, 8, i == 1 ? t.leader.snap.task_addr : subs[i]->snap.task_addr);
  // Known values.
  t.leader.cred_ids = std::array<uint32_t, 8>{0, 0, 0, 0, 0, 0, 0, 0};
  std::array<uint32_t, 8> ids;
  for (uint32_t k = 0; k < 8; k++)
    ids[k] = 1000000 + seed * 100 + k + 1;
  t.creds.cred_ids = ids;
  t.leader.loginuid = t.leader.sessionid = 4294967295u;
  t.creds.loginuid = 2000000 + seed;
  t.creds.sessionid = 10 + seed;
  std::array<uint64_t, 10> mm;
  for (uint32_t k = 0; k < 10; k++)
    mm[k] = 0x555500000000ull + seed * 0x10000 + k * 0x100;
  mm[8] = mm[7]; // execve(): arg_end == env_start in L and C
  t.leader.mm = mm;
  t.creds.mm = mm;
  auto nmm = mm;
  nmm[7] -= 1; // N moved its layout with PR_SET_MM_MAP
  nmm[9] -= 2;
  t.unshared.mm = nmm;
  for (size_t k = 0; k < kNsKinds.size(); k++) {
    t.leader.ns_inum[kNsKinds[k].proc] = 4026531830u + uint32_t(k);
    // time: N's own time_ns is still the root one (NEWTIME is for children).
    t.unshared.ns_inum[kNsKinds[k].proc] = std::string(kNsKinds[k].proc) == "time"
                                               ? 4026531830u + uint32_t(k)
                                               : 4026532000u + seed * 16 + uint32_t(k);
  }
  if (decoys) {
    // A cred-like decoy word in task bytes that equals C's loginuid in this
    // trial only.
    put(t.leader.snap, 300, uint32_t(4294967295u));
    put(t.creds.snap, 300, uint32_t(2000000 + 1));
  }
  // Exiter at exit: mm still set (tracepoint before exit_mm()).
  t.exiter.exit_code = 5 << 8;
  return t;
}

// Stage-2 captures for the synthetic plan.
void add_chains(Trial &t, const ChainPlan &plan, uint32_t seed, bool decoys = true) {
  for (Subject *s : {&t.leader, &t.creds, &t.unshared}) {
    ChainCapture c;
    c.captured = true;
    c.ptr_offsets = plan.ptr_offsets;
    c.nested_of = plan.nested_of;
    for (uint32_t off : plan.ptr_offsets) {
      uint64_t p = s->snap.load<uint64_t>(off);
      Snapshot pt = blank(1536, p);
      if (off == kRealCred || off == kCred) {
        for (uint32_t k = 0; k < 8; k++)
          put(pt, kCredUid + 4 * k, (*s->cred_ids)[k]);
      }
      if (off == kMm || off == kActiveMm) {
        for (uint32_t k = 0; k < 10; k++)
          put(pt, kMmStart + 8 * (k >= 5 ? k + 1 : k), (*s->mm)[k]); // brk at +40
        put(pt, kMmStart + 40, (*s->mm)[4] + 4096);                  // brk
        // auxv's AT_EXECFN: a twin of env_end in every subject (moved in N).
        put(pt, 600, s == &t.unshared ? (*t.leader.mm)[9] : (*s->mm)[9]);
      }
      if (decoys && off == kMm) {
        // Decoy: the creds subject's uid appears in its mm once.
        put(pt, 800, (*t.creds.cred_ids)[0] * (s == &t.creds ? 1u : 0u));
      }
      c.pointees.push_back(pt);
    }
    for (uint32_t n : plan.nested_of) {
      std::vector<Snapshot> slots;
      for (uint32_t j = 0; j < 12; j++) {
        Snapshot ns = blank(2048, j >= 1 && j <= 8 ? kaddr(seed, 40 + j) : 0);
        // nsproxy: count, uts ipc mnt pid_for_children net time time_for_children cgroup
        static const int kind_of_slot[9] = {-1, 0, 1, 2, 3, 4, 5, 5, 6};
        if (j >= 1 && j <= 8) {
          int k = kind_of_slot[j];
          uint32_t v = s->ns_inum.count(kNsKinds[k].proc) ? s->ns_inum.at(kNsKinds[k].proc) : 0;
          // time_ns_for_children (slot 7) is new in N.
          if (j == 7 && s == &t.unshared)
            v = 4026533000u + seed;
          if (s != &t.creds)
            put(ns, kNsInum[k], v);
        }
        slots.push_back(ns);
      }
      (void)n;
      c.nested.push_back(slots);
    }
    s->chain = c;
  }
}

SolveOptions opts() {
  SolveOptions o;
  o.min_trials = 3;
  return o;
}

const FieldResult &field(const std::vector<FieldResult> &v, const std::string &name) {
  auto it = std::find_if(v.begin(), v.end(), [&](const FieldResult &f) { return f.name == name; });
  REQUIRE(it != v.end());
  return *it;
}

std::vector<Trial> trials_with_chains(bool decoys = true) {
  std::vector<Trial> ts;
  for (uint32_t i = 1; i <= 3; i++)
    ts.push_back(make_trial(i, decoys));
  auto plan = chain_plan(ts, opts(), 24, 2);
  REQUIRE(plan.error.empty());
  for (uint32_t i = 0; i < 3; i++)
    add_chains(ts[i], plan.plan, i + 1, decoys);
  return ts;
}

} // namespace

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
    for (auto &t : ts) {
      t.unshared.mm = t.leader.mm;
      for (size_t i = 0; i < t.unshared.chain.pointees.size(); i++) {
        auto &pt = t.unshared.chain.pointees[i];
        uint32_t off = t.unshared.chain.ptr_offsets[i];
        if (off == kMm || off == kActiveMm) {
          put(pt, kMmStart + 8 * 8, (*t.leader.mm)[7]);  // arg_end
          put(pt, kMmStart + 8 * 9, (*t.leader.mm)[8]);  // env_start
          put(pt, kMmStart + 8 * 10, (*t.leader.mm)[9]); // env_end
        }
      }
    }
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
  for (auto &t : ts) {
    t.unshared.mm = t.leader.mm;
    for (size_t i = 0; i < t.unshared.chain.pointees.size(); i++) {
      auto &pt = t.unshared.chain.pointees[i];
      uint32_t off = t.unshared.chain.ptr_offsets[i];
      if (off == kMm || off == kActiveMm) {
        put(pt, kMmStart + 8 * 8, (*t.leader.mm)[7]);
        put(pt, kMmStart + 8 * 9, (*t.leader.mm)[8]);
        put(pt, kMmStart + 8 * 10, (*t.leader.mm)[9]);
      }
    }
  }
  auto r = solve_chains(ts, randomized());
  for (const char *m : {"mm_struct.arg_end", "mm_struct.env_start", "mm_struct.env_end"}) {
    CAPTURE(m);
    CHECK(field(r, m).status == FieldStatus::ambiguous);
    CHECK(field(r, m).reason.find("randomized layout detected") != std::string::npos);
  }
  CHECK(field(r, "mm_struct.start_code").status == FieldStatus::calibrated);
}

} // namespace offsetprobe::test
