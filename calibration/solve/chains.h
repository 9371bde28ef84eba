// SPDX-License-Identifier: GPL-2.0-only
// Pointer chains: the fields of the families one or two pointers away from
// task_struct, and those found with the chain experiment's subjects C and N
// in task_struct's own bytes. Pure, like the solver: snapshots and known
// values in, offsets or a reasoned verdict out. This is the generic part:
// each family's rule is its Family::chain (calibration/model/catalogue.h), in its
// unit (calibration/families/), run here in catalogue order.
//
// Stages (each is one capture program load):
//   1. the scanner copies task_struct (today's engine). From those bytes the
//      direct fields are solved, the families' from_task rules too, and the *candidate*
//      pointer offsets are picked by how their values relate across subjects
//      (chain_plan).
//   2. the chain scanner, loaded with those candidate offsets as rodata,
//      copies the structs they point to (and, for candidates of a
//      shared_until_unshare family, the structs one level further). A pointer field and the members
//      behind it are solved together: the pointer is the candidate whose pointee holds every known
//      member value (solve_chains).
#pragma once

#include "calibration/model/catalogue.h"
#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"
#include "calibration/solve/solver.h"

#include <array>
#include <string>
#include <vector>

namespace offsetprobe {

// The fields of this module, each with its Requires.
const std::vector<FieldDecl> &chain_field_graph();

// Capture stages in order, each listing its fields in dependency order.
// Stage 1 holds the fields in task_struct's own bytes; stage 2 those one or
// two pointers away (the chain scanner follows two levels in one load).
// `error` is set (and the stages empty) on an unknown requirement, a cycle, or
// a chain deeper than two pointers.
struct StagePlan {
  std::vector<std::vector<std::string>> stages;
  std::string error;
};
StagePlan plan_stages(const std::vector<FieldDecl> &decls);

// The chain fields in report order, unsolved (status unresolved, no reason).
std::vector<FieldResult> chain_fields();

// Stage 1: candidate pointer offsets in task_struct, from the snapshots of
// L, T, G, C and N, as the families' ChainRule::Pointer relations say:
// private_copy pointers are shared by L and its thread T but differ in each
// forked child; shared_until_unshare ones are shared by L, T, G and C but
// differ in N, which unshared its namespaces (they are followed one level
// further: `ns_count` of them, last in the plan). Only values in the kernel
// half of the address space that are no task's address qualify. `error`
// tells why the plan is empty or too large for the scanner.
struct ChainPlanResult {
  ChainPlan plan;
  size_t private_count = 0, ns_count = 0;
  std::string error;
};
ChainPlanResult chain_plan(const std::vector<Trial> &trials, const SolveOptions &opt,
                           size_t max_ptrs, size_t max_nested);

// Stage 1: the fields of the families with a ChainRule::from_task rule
// (found in task_struct's own bytes with the chain subjects), in catalogue
// order.
std::vector<FieldResult> solve_from_task(const std::vector<Trial> &trials, const SolveOptions &opt);

// Stage 2: every field of chain_fields() but solve_from_task()'s, from the
// trials' chain captures (Subject::chain), by the families' by_value and
// by_layout rules.
std::vector<FieldResult> solve_chains(const std::vector<Trial> &trials, const SolveOptions &opt);

// Marks every field of `fields` whose name is in chain_fields() unresolved
// with `reason` (e.g. the chain stage could not run).
void mark_chains_unresolved(std::vector<FieldResult> &fields, const std::string &reason,
                            bool required);

} // namespace offsetprobe
