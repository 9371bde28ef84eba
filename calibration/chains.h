// SPDX-License-Identifier: GPL-2.0-only
// Pointer chains: fields one or two pointers away from task_struct (struct
// cred's ids, nsproxy -> namespaces -> ns.inum, mm_struct's layout fields)
// and the audit fields loginuid/sessionid. Pure, like the solver: snapshots
// and known values in, offsets or a reasoned verdict out.
//
// Stages (each is one capture program load):
//   1. the scanner copies task_struct (today's engine). From those bytes the
//      direct fields are solved, loginuid/sessionid too, and the *candidate*
//      pointer offsets are picked by how their values relate across subjects
//      (chain_plan).
//   2. the chain scanner, loaded with those candidate offsets as rodata,
//      copies the structs they point to (and, for nsproxy candidates, the
//      structs one level further). A pointer field and the members behind it
//      are solved together: the pointer is the candidate whose pointee holds
//      every known member value (solve_chains).
#pragma once

#include "calibration/catalogue.h"
#include "calibration/result.h"
#include "calibration/snapshot.h"
#include "calibration/solver.h"

#include <array>
#include <string>
#include <vector>

namespace offsetprobe {

// A namespace nsproxy points to: the /proc/<pid>/ns link that gives its
// inode, nsproxy's member, and the struct that embeds `struct ns_common ns`.
struct NsKind {
  const char *proc;
  const char *member;
  const char *struct_name;
};
inline constexpr std::array<NsKind, 7> kNsKinds = {{
    {"uts", "uts_ns", "uts_namespace"},
    {"ipc", "ipc_ns", "ipc_namespace"},
    {"mnt", "mnt_ns", "mnt_namespace"},
    {"pid_for_children", "pid_ns_for_children", "pid_namespace"},
    {"net", "net_ns", "net"},
    {"time", "time_ns", "time_namespace"},
    {"cgroup", "cgroup_ns", "cgroup_namespace"},
}};

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
// L, T, G, C and N. "Private" pointers (struct cred, mm_struct) are shared by
// L and its thread T but differ in each forked child; nsproxy is shared by L,
// T, G and C but differs in N, which unshared its namespaces. Only values in
// the kernel half of the address space that are no task's address qualify.
// `error` tells why the plan is empty or too large for the scanner.
struct ChainPlanResult {
  ChainPlan plan;
  size_t private_count = 0, ns_count = 0;
  std::string error;
};
ChainPlanResult chain_plan(const std::vector<Trial> &trials, const SolveOptions &opt,
                           size_t max_ptrs, size_t max_nested);

// Stage 1: task_struct.loginuid and sessionid (audit). not_present when no
// subject has /proc/<pid>/loginuid.
std::vector<FieldResult> solve_audit(const std::vector<Trial> &trials, const SolveOptions &opt);

// Stage 2: every pointer and member of chain_fields() but loginuid/sessionid,
// from the trials' chain captures (Subject::chain).
std::vector<FieldResult> solve_chains(const std::vector<Trial> &trials, const SolveOptions &opt);

// Marks every field of `fields` whose name is in chain_fields() unresolved
// with `reason` (e.g. the chain stage could not run).
void mark_chains_unresolved(std::vector<FieldResult> &fields, const std::string &reason,
                            bool required);

} // namespace offsetprobe
