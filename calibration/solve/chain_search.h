// SPDX-License-Identifier: GPL-2.0-only
// The chain solver's generic walker: what every pointer family's rule
// (calibration/families/*.cpp) uses to search the chain captures. An offset
// survives when no trial contradicts it and enough trials saw it match; a
// field is settled from its survivors (one: calibrated, none: unresolved,
// several: ambiguous). No family is named here: the rules that know a
// family's known values live in its unit, and calibration/solve/chains.cpp runs
// them in catalogue order.
#pragma once

#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"
#include "calibration/solve/solver.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace offsetprobe::chain {

// True for a value in the kernel half of the address space, 8-aligned.
bool is_kptr(uint64_t v);

// A catalogue field as an unsolved result.
FieldResult make(const std::string &name);

// "1, 2, 3".
std::string join(const std::vector<uint32_t> &v);

// Every subject of a trial: L, T, G, E, C and N.
std::vector<const Subject *> all_subjects(const Trial &t);

// The value of an 8-byte word, if readable.
std::optional<uint64_t> word(const Snapshot &s, uint32_t off);
// Loads a 4-byte (8-byte) value of a snapshot at o, if readable.
std::optional<uint32_t> u32_at(const Snapshot &s, uint32_t o);
std::optional<uint64_t> u64_at(const Snapshot &s, uint32_t o);

// Subject s's pointee i in its chain capture, or nullptr.
const Snapshot *pointee(const Subject &s, size_t i);
// Subject s's j-th pointee one level behind its nested candidate n, or nullptr.
const Snapshot *nested(const Subject &s, size_t n, size_t j);

// The largest snapshot `get` gives over `trials`: the search's limit.
uint32_t limit_of(const std::vector<const Trial *> &trials,
                  const std::function<const Snapshot *(const Trial &)> &get);

// The first non-empty `what` of the trials (an error a subject reported).
std::string first_error(const std::vector<Trial> &trials, std::string Trial::*what);

// Result of one offset over all trials: survives when no trial contradicts it
// and at least `min` trials saw it match (like the direct fields).
enum class Seen { unknown, match, mismatch };

// The same rule for several fields at once, for a search that reads each
// offset of a trial once and compares it with every field's known value:
// `pred(t, o, alive, seen)` sets seen[k] for each k with alive[k]. out[k] is
// what survivors() would give for field k alone; `wanted` (at most 8) says
// which fields to search.
template <typename Pred>
std::vector<std::vector<uint32_t>> survivors_each(const std::vector<const Trial *> &trials,
                                                  uint32_t limit, uint32_t align, uint32_t size,
                                                  uint32_t min, const std::vector<bool> &wanted,
                                                  Pred pred, uint32_t *support_out = nullptr) {
  constexpr size_t kMax = 8;
  const size_t n = std::min(wanted.size(), kMax);
  std::vector<std::vector<uint32_t>> out(wanted.size());
  uint32_t best = 0;
  for (uint32_t o = 0; o + size <= limit; o += align) {
    std::array<bool, kMax> alive{};
    std::array<uint32_t, kMax> support{};
    size_t left = 0;
    for (size_t k = 0; k < n; k++)
      left += alive[k] = wanted[k];
    for (const Trial *t : trials) {
      if (!left)
        break;
      std::array<Seen, kMax> seen{};
      pred(*t, o, alive, seen);
      for (size_t k = 0; k < n; k++) {
        if (!alive[k])
          continue;
        if (seen[k] == Seen::mismatch) {
          alive[k] = false;
          left--;
        } else if (seen[k] == Seen::match) {
          support[k]++;
        }
      }
    }
    for (size_t k = 0; k < n; k++)
      if (alive[k] && support[k] >= min) {
        out[k].push_back(o);
        best = std::max(best, support[k]);
      }
  }
  if (support_out)
    *support_out = best;
  return out;
}

template <typename Pred>
std::vector<uint32_t> survivors(const std::vector<const Trial *> &trials, uint32_t limit,
                                uint32_t align, uint32_t size, uint32_t min, Pred pred,
                                uint32_t *support_out = nullptr) {
  return survivors_each(
      trials, limit, align, size, min, {true},
      [&pred](const Trial &t, uint32_t o, const auto &, auto &seen) { seen[0] = pred(t, o); },
      support_out)[0];
}

// Settles `f` from its candidate offsets: one = calibrated, none =
// unresolved, several = ambiguous.
void settle(FieldResult &f, const std::vector<uint32_t> &cands, uint32_t trials,
            const std::string &none_reason);

// A pointer pair (real_cred/cred, mm/active_mm) that no experiment placed:
// both settled from the valid pointer candidates; when exactly one pointer
// leads to the values, it is one of the pair, not both, so both are
// ambiguous with `one_reason`.
void settle_unplaced_pair(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &valid,
                          uint32_t trials, const std::string &none_reason,
                          const std::string &one_reason);

// Marks `f` unresolved with `reason`.
void unresolved(FieldResult &f, const std::string &reason, bool required = true);

// Two members declared next to each other (`a` then `b`, `width` bytes each)
// that hold the same value in every subject have the same candidate pair
// {x, x+width}: then `a` is x and `b` is x+width. A layout rule: the caller
// states the pair and the reason, and runs it on declared layouts only.
bool split_adjacent(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &ca,
                    const std::vector<uint32_t> &cb, uint32_t width, const std::string &why);

using FindField = std::function<FieldResult &(const std::string &)>;

// One run of solve_chains(): the trials, the chain plan their captures
// followed, the fields being solved, and what each family's rule found by
// value for its layout rule.
struct ChainSolve {
  const std::vector<Trial> &trials;
  const SolveOptions &opt;
  std::vector<FieldResult> &out;
  // The plan (load-time offsets), the same in every capture of one run.
  std::vector<uint32_t> ptr_offsets, nested_of;
  std::set<uint32_t> nested_idx; // indexes of ptr_offsets followed one level further

  // A field of `out` by name (std::logic_error when there is none).
  FieldResult &find(const std::string &name) const;
  FindField finder() const {
    return [this](const std::string &n) -> FieldResult & { return find(n); };
  }

  // What a family's rule found by value, kept for its layout rule.
  struct Found {
    std::vector<const Trial *> usable;
    std::vector<uint32_t> valid;             // the pointer candidates that lead to the values
    std::vector<std::vector<uint32_t>> sets; // each member's candidates
  };
  std::map<std::string, Found> found; // by family name
};

} // namespace offsetprobe::chain
