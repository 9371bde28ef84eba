// SPDX-License-Identifier: GPL-2.0-only
// Synthetic trials for the chain stage's tests (test_chains.cpp,
// test_chains_randomized.cpp): a task_struct with its pointers, the structs
// behind them, decoys, and the helpers that build and solve them.
#pragma once

#include "calibration/solve/chains.h"
#include "calibration/families/families.h"
#include "calibration/families/ns.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

namespace offsetprobe::test {

constexpr uint32_t kTask = 512; // synthetic task_struct size
// Synthetic layout.
// The four pointers a shuffled layout moves are variables (a test moves them
// and puts them back with Shuffle).
inline uint32_t kMm = 64, kActiveMm = 72, kRealCred = 96, kCred = 104;
constexpr uint32_t kNsproxy = 128, kStatic = 136, kLoginuid = 160, kSessionid = 164, kUserPtr = 176;
constexpr uint32_t kCredUid = 8;   // ids at 8..36 in struct cred
constexpr uint32_t kMmStart = 200; // layout fields at 200.. in mm_struct
constexpr uint32_t kNsInum[7] = {40, 44, 24, 112, 152, 16, 28}; // per kind

inline Snapshot blank(uint32_t size, uint64_t addr) {
  Snapshot s;
  s.captured = true;
  s.task_addr = addr;
  s.chunk_size = 256;
  s.bytes.assign(size, 0);
  s.readable = ~0ull;
  return s;
}
template <typename T> inline void put(Snapshot &s, uint32_t off, T v) {
  std::memcpy(s.bytes.data() + off, &v, sizeof(T));
}

// The direct map's base: 4-level paging by default; a test sets the base a
// 5-level (LA57) kernel uses, 0xff11000000000000 before KASLR.
inline uint64_t g_kbase = 0xffff888000000000ull;

inline uint64_t kaddr(uint32_t trial, uint32_t what) {
  return g_kbase + (uint64_t(trial) << 24) + (uint64_t(what) << 12);
}

// One synthetic trial; `seed` varies every known value.
inline Trial make_trial(uint32_t seed, bool decoys = true) {
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
  t.exiter.wait_status = 5 << 8;
  return t;
}

// Stage-2 captures for the synthetic plan.
inline void add_chains(Trial &t, const ChainPlan &plan, uint32_t seed, bool decoys = true) {
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

inline SolveOptions opts() {
  SolveOptions o;
  o.min_trials = 3;
  return o;
}

inline const FieldResult &field(const std::vector<FieldResult> &v, const std::string &name) {
  auto it = std::find_if(v.begin(), v.end(), [&](const FieldResult &f) { return f.name == name; });
  REQUIRE(it != v.end());
  return *it;
}

inline std::vector<Trial> trials_with_chains(bool decoys = true) {
  std::vector<Trial> ts;
  for (uint32_t i = 1; i <= 3; i++)
    ts.push_back(make_trial(i, decoys));
  auto plan = chain_plan(ts, opts(), 24, 2);
  REQUIRE(plan.error.empty());
  for (uint32_t i = 0; i < 3; i++)
    add_chains(ts[i], plan.plan, i + 1, decoys);
  return ts;
}

// N could not move its layout (no PR_SET_MM_MAP): its mm_struct holds the
// leader's arg_end, env_start and env_end, so only adjacency can decide.
inline void unmoved_layout(std::vector<Trial> &ts) {
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
}

} // namespace offsetprobe::test
