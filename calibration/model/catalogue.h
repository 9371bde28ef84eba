// SPDX-License-Identifier: GPL-2.0-only
// The field catalogue: every field the engine calibrates, declared as data by
// its family (calibration/families/*.cpp), in report order. The field lists of
// the solvers, the Requires/Provides graph and its stage plan, --fields, the
// read-back plan, the exports' extra names and verify's BTF paths (struct,
// member, aliases) all come from here.
#pragma once

#include "calibration/model/predicate.h"
#include "calibration/model/read_plan.h"
#include "calibration/model/result.h"
#include "calibration/model/snapshot.h"
#include "calibration/model/solve_options.h"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace offsetprobe {

namespace chain {
struct ChainSolve; // calibration/solve/chain_search.h
}

// One field, as its family declares it.
struct FieldDef {
  std::string struct_name;          // "task_struct"
  std::string member;               // "start_boottime"; a path for nested members ("ns.inum")
  uint32_t size = 0;                // bytes
  uint32_t align = 0;               // candidate offsets are multiples of this
  std::vector<std::string> aliases; // older names of the same member (verify's BTF lookup)
  // Requires: the pointer fields it is reached through (any one of them);
  // empty: it lies in task_struct's own bytes.
  std::vector<std::string> via;
  // Uses: fields of other families whose offsets its experiment needs (not
  // pointers it is reached through): --fields selects them with it.
  std::vector<std::string> uses;
  bool required = true; // false: its absence never makes a calibration incomplete
  std::string absent;   // the kernels (versions, configs) that have no such field
  std::string known;    // its known value, and where that comes from
  // Extra names in the exports, for consumers of other tools (Pixie's).
  std::vector<std::string> export_aliases;
  // A field in task_struct's own bytes: the predicate the solver runs on
  // every aligned offset of every stage-1 trial (solve() for the task family,
  // solve_declared() for a family whose experiment is "predicates"; solver.h),
  // and why a trial cannot test it (empty: any can). Empty for the fields
  // other solvers find.
  Predicate predicate;
  CannotTest cannot_test;
  // Its rank in its struct's declaration order (Family::declared_order), or
  // 0: not part of it. Only fields found by value alone take part: a field
  // placed by a layout rule proves nothing about the layout.
  uint32_t order = 0;

  std::string name() const { return struct_name + "." + member; }
};

// A subject role a family needs, and what the role does for it.
struct RoleUse {
  Role role;
  std::string does;
};

// What the read-back reads: a field through a path of pointer fields (all
// names of catalogue fields: the path's last entry is the field read, the
// ones before it the pointers followed from the task), at these hooks.
struct ReadbackPath {
  std::vector<std::string> path;
  uint32_t sites = kAtTrigger;
};

class ReadbackCheck; // calibration/solve/readback_check.h

// A struct whose members every unshuffled kernel declares in the order of
// their FieldDef::order (a subsequence of the declaration, so any two of
// them, not only neighbours, keep it), and why. detect_layout_order
// (calibration/solve/layout_order.h) checks the calibrated ones; the family that
// owns the struct declares it, the members may come from several families.
struct DeclaredOrder {
  std::string struct_name;
  // The reason, as the evidence of a randomized layout quotes it; "%s"
  // stands for the members in rank order, joined with ", ".
  std::string why;
};

// How the chain stage (calibration/solve/chains.h) finds a family's fields.
struct ChainRule {
  // How the task_struct pointer the family is reached through relates
  // across subjects, for chain_plan()'s pointer candidates.
  enum class Pointer {
    none,
    // Shared by a thread, a copy in each forked child (copy_creds() ->
    // prepare_creds(), copy_mm() -> dup_mm()): L and T hold one value, G, C
    // and N each their own.
    private_copy,
    // Shared by forked children, replaced by unshare() (copy_namespaces()
    // without CLONE_NEW*): L, T, G and C hold one value, N its own. Followed
    // one level further: it points to a struct of pointers.
    shared_until_unshare,
  };
  Pointer pointer = Pointer::none;
  std::string pointer_label; // what chain_plan's messages call it ("cred")
  // From the stage-1 captures (task_struct's own bytes, with the chain
  // experiment's subjects); its fields are then left out of solve_chains().
  std::function<std::vector<FieldResult>(const std::vector<Trial> &, const SolveOptions &)>
      from_task;
  // From the chain captures, by value: settles the family's fields of
  // ChainSolve::out, and keeps in ChainSolve::found what its layout rule needs.
  std::function<void(chain::ChainSolve &)> by_value;
  // After every family's by_value: its rules by declaration order or
  // adjacency, each standing down on a randomized layout.
  std::function<void(chain::ChainSolve &, const LayoutOrder &)> by_layout;
};

struct Family {
  std::string name;    // what --fields calls it: "task", "cred", ...
  std::string summary; // one line for --help and the docs
  std::vector<FieldDef> fields;
  std::vector<RoleUse> roles;
  // The predicate or chain rule that finds the fields, and any rule that
  // splits candidates by declaration order, with its reason.
  std::string rule;
  // What the read-back walks for this family's fields, and what it must see
  // there: `verify` compares what was read with the known values and passes
  // or fails each field.
  std::vector<ReadbackPath> readback;
  // After solve()'s search of the family's predicates, before its
  // elimination: a rule for fields the predicates leave with the same
  // candidates (e.g. two clocks that read alike on a machine never
  // suspended), given the layout as the fields show it. It may only narrow
  // candidates, with its reason in the result.
  std::function<void(std::vector<FieldResult> &, const std::vector<Trial> &, const LayoutOrder &)>
      settle;
  std::function<void(ReadbackCheck &)> verify;
  // Runs inside each of the engine's subjects L, T and G, in that subject's
  // own task, after it set its comm and before it triggers: what the family
  // sets there for its predicates to find (e.g. a scheduling policy). The
  // subjects run it when one of the family's fields is selected
  // (subject_hooks_arg); it must not fail the subject (what it could not
  // set, `observe` sees).
  std::function<void(Role)> in_subject;
  // Runs in the calibrator while the subjects live (trials and validation),
  // for L, T and G when one of the family's fields is selected: reads the
  // known values from /proc (`task_dir` is /proc/<pid>/task/<tid>) into
  // Subject::known, keyed by field name.
  std::function<void(Role, const std::string &task_dir, std::map<std::string, int64_t> &known)>
      observe;
  // Non-empty: the family is solved outside the engine's task and chain
  // solvers, after the engine's stages: by its own experiment (its own
  // subjects, capture and read-back, e.g. "files": calibration/experiment/files/,
  // "net": calibration/experiment/net/), or "predicates": by its fields' predicates on
  // the engine's stage-1 trials (solve_declared). Its fields are left out of
  // the chain stages' Requires graph and of the chain solver.
  std::string experiment;
  // The chain rule of a family outside task_struct's own bytes, or of one
  // found with the chain experiment's subjects (audit).
  ChainRule chain;
  // The structs it owns whose declaration order a layout check may use.
  std::vector<DeclaredOrder> declared_order;
};

// The catalogue, in report order: task, cred, ns, mm, audit, sched, files,
// net. Defined by the families layer (calibration/families/all.cpp).
const std::vector<Family> &catalogue();

// A field of the catalogue by full name ("cred.uid"), or nullptr.
const FieldDef *find_field(const std::string &name);
// The family a field belongs to, or nullptr.
const Family *family_of(const std::string &field_name);
// A family by its name ("cred"), or nullptr.
const Family *find_family(const std::string &name);

// True when the catalogue reads field `name` back only at the exit hook (its
// read-back path is the field alone, at kAtExit only): its known value is
// seen only when sched_process_exit is attached.
bool read_only_at_exit(const std::string &name);

// Runs the in_subject hook for `role` (in the subject's task) of every
// family that select_subject_hooks() named.
void run_in_subject(Role role);

// A field as an unsolved result (status unresolved, no reason).
FieldResult unsolved(const FieldDef &f);

// What --fields selects: a set of catalogue fields, closed under Requires.
// The task family is always in it: every other family is reached from, or
// found beside, the task's own fields.
class FieldSelection {
public:
  // Every field of the catalogue (--fields all).
  static FieldSelection all();
  // The first family alone: task_struct's own fields (--fields task).
  static FieldSelection base();
  // A comma-separated list of family names ("task,cred"), field names
  // ("cred.uid"), or "all". Returns nullopt and sets `error` on an unknown name.
  static std::optional<FieldSelection> parse(const std::string &text, std::string &error);

  bool has(const std::string &field_name) const { return fields_.count(field_name) > 0; }
  // True when a field outside the task family is selected: the chain
  // experiment (its subjects and its capture stage) must run.
  bool beyond_task() const;
  // The selected fields as unsolved results, in report order.
  std::vector<FieldResult> results() const;
  const std::set<std::string> &names() const { return fields_; }
  // True when a field of `fam` is selected.
  bool has_family(const Family &fam) const;

private:
  void add_with_requires(const std::string &name);
  void add_evidence();
  std::set<std::string> fields_;
};

// A field and the pointer fields it is reached through (Requires). A field
// Provides itself.
struct FieldDecl {
  std::string name;
  std::vector<std::string> needs; // Requires: the pointer fields it is reached through
};

// The subject host's argument that names the families whose in_subject
// hooks its subjects run: the selected ones, joined by ',', or "-" for none.
// Nothing reads an unselected family's settings, and they act on the
// machine: sched's makes a real-time thread at a random priority up to 99
// and negative nice values, which `--fields task` never asked for.
std::string subject_hooks_arg(const FieldSelection &sel);
// In the subject host, from that argument, before any subject runs.
void select_subject_hooks(const std::string &arg);

// The Requires graph of the selected fields (or, with no selection, of every
// field outside the task family), for plan_stages (calibration/solve/chains.h).
std::vector<FieldDecl> field_graph(const FieldSelection *sel = nullptr);

// The read-back plan for the calibrated fields of `fields`: every family's
// read-back paths whose fields all have an offset. `steps` finds a path's
// step by its fields joined with ">" ("task_struct.group_leader>task_struct.pid").
struct ReadbackPlan {
  ReadPlan plan;
  std::map<std::string, uint32_t> steps;
  std::optional<uint32_t> at(const std::vector<std::string> &path) const;
};
ReadbackPlan readback_plan(const std::vector<FieldResult> &fields);

} // namespace offsetprobe
