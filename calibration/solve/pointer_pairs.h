// SPDX-License-Identifier: GPL-2.0-only
// Two task_struct pointers that hold the same address in (nearly) every task:
// real_cred/cred (they differ only while override_creds() is in force) and
// mm/active_mm (they differ only in kernel threads and after exit_mm()).
//
// The interchangeable-pointer rule: when the two candidates hold the same
// address in every captured subject, the struct behind them is one object, so
// its members (the cred ids, mm_struct's fields) are found and read back
// through either. Which candidate is which field may stay unknown: both
// fields are then ambiguous with `interchangeable` set and the reason, and a
// consumer may dereference any of their candidates to read the members
// (cache/offsetprobe_reader.hpp: pointer_offset()).
#pragma once

#include "calibration/solve/layout_order.h"
#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace offsetprobe {

// True when `cands` is two offsets whose 8-byte words are equal in every
// captured subject of `trials` that has both readable (and at least one has).
bool same_pointer_everywhere(const std::vector<const Trial *> &trials,
                             const std::vector<uint32_t> &cands);

// Both fields ambiguous over `cands`, interchangeable, with `why`.
void mark_interchangeable(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &cands,
                          uint32_t trials, const std::string &why);

// mm vs active_mm by the exiter, wherever the two sit: where the kernel runs
// exit_mm() before the sched_process_exit tracepoint (through 6.x) the
// exiter's mm is NULL there and active_mm (kept for lazy TLB) is not. Returns
// {mm, active_mm} and says why, or nullopt (with `why` saying what was seen)
// when no exiter showed it. `contradiction` is set when the exiter's values
// fit neither field assignment.
std::optional<std::pair<uint32_t, uint32_t>>
split_mm_by_exiter(const std::vector<const Trial *> &trials, const std::vector<uint32_t> &cands,
                   std::string &why, bool &contradiction);

// The reason a declaration-order rule did not run: "randomized layout
// detected (EVIDENCE)" or "not adjacent".
std::string declared_order_unusable(const LayoutOrder &layout, const std::vector<uint32_t> &cands,
                                    uint32_t width);

} // namespace offsetprobe

namespace offsetprobe {

// real_cred vs cred from the candidates that lead to C's ids (`valid`). No
// experiment at a syscall boundary separates them (override_creds() is never
// in force there), so: one candidate or two that differ somewhere are left to
// settle(); two that are equal everywhere are split by declaration order
// (`real_cred` then `cred`, since 2.6.29) only when adjacent on a declared
// layout, else interchangeable. Returns false when it left them to the caller.
bool place_cred_pair(FieldResult &real_cred, FieldResult &cred,
                     const std::vector<const Trial *> &usable, const std::vector<uint32_t> &valid,
                     const LayoutOrder &layout);

// mm vs active_mm from the candidates that lead to /proc/<pid>/stat's values:
// the exiter experiment wherever they sit; when the exiter saw them equal,
// declaration order (`mm` then `active_mm`, since 2.3) only when adjacent on a
// declared layout, else interchangeable. Returns false when it left them to
// the caller (not exactly two candidates).
bool place_mm_pair(FieldResult &mm, FieldResult &active_mm,
                   const std::vector<const Trial *> &usable, const std::vector<uint32_t> &valid,
                   const LayoutOrder &layout);

} // namespace offsetprobe
