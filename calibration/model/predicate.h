// SPDX-License-Identifier: GPL-2.0-only
// The vocabulary of a field's predicate: what it says of one offset in one
// trial, checked subject by subject. Pure: bytes and known values in, a
// verdict out. The solver (solver.h) runs a predicate on every aligned offset
// of every trial; the family units (calibration/families/) declare theirs with
// it.
#pragma once

#include "calibration/model/snapshot.h"
#include "calibration/model/solve_options.h"

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace offsetprobe {

// What a predicate says of one offset in one trial.
enum class Verdict {
  unknown,  // the bytes are unreadable, or the subjects it needs were not captured
  match,    // every subject's value is the known one
  mismatch, // at least one subject contradicts
};

// A field's predicate: does the field sit at `off` in this trial? The
// options carry what the host told besides the trials (its USER_HZ tick, its
// time namespace's boottime offset).
using Predicate = std::function<Verdict(const Trial &, uint32_t off, const SolveOptions &)>;
// Why a trial cannot test a field at all ("" when it can): a field that no
// min_trials trials could test is unresolved with this reason.
using CannotTest = std::function<std::string(const Trial &)>;

// One subject's check: its bytes at off must satisfy `ok`.
template <typename T>
Verdict check(const Subject &s, uint32_t off, const std::function<bool(T)> &ok) {
  if (!s.snap.readable_range(off, sizeof(T)))
    return Verdict::unknown;
  return ok(s.snap.load<T>(off)) ? Verdict::match : Verdict::mismatch;
}

// Combines required checks (all must match) and optional ones (an optional
// subject that was not captured is skipped; one that was must match).
struct Checks {
  Verdict v = Verdict::match;
  void need(Verdict x) {
    if (v == Verdict::mismatch || x == Verdict::mismatch)
      v = Verdict::mismatch;
    else if (x == Verdict::unknown)
      v = Verdict::unknown;
  }
  void optional(const Subject &s, Verdict x) {
    if (s.snap.captured && x != Verdict::unknown)
      need(x);
  }
};

template <typename T> std::function<bool(T)> equals(T want) {
  return [want](T got) { return got == want; };
}

// The stage-1 subject of `t` in role `r` (leader, thread, grandchild, exiter,
// creds, unshared).
inline const Subject &subject(const Trial &t, Role r) {
  switch (r) {
  case Role::leader:
    return t.leader;
  case Role::thread:
    return t.thread;
  case Role::grandchild:
    return t.grandchild;
  case Role::exiter:
    return t.exiter;
  case Role::creds:
    return t.creds;
  case Role::unshared:
    return t.unshared;
  }
  return t.leader;
}

// Why a trial cannot test a field that needs `roles` captured: "not
// captured: exiter" ("" when every one was). The roles are copied: an
// initializer_list's array dies with the full-expression that made it, long
// before the returned function is called.
inline CannotTest need_captured(std::initializer_list<Role> roles) {
  return [roles = std::vector<Role>(roles)](const Trial &t) {
    static const char *names[] = {"leader", "thread", "grandchild", "exiter", "creds", "unshared"};
    std::string out;
    for (Role r : roles)
      if (!subject(t, r).snap.captured)
        out += std::string(out.empty() ? "" : ", ") + names[static_cast<int>(r)];
    return out.empty() ? "" : "not captured: " + out;
  };
}

} // namespace offsetprobe
