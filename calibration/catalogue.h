// SPDX-License-Identifier: GPL-2.0-only
// The field catalogue: every field the engine calibrates, declared as data by
// its family (calibration/families/*.cpp), in report order. The field lists of
// the solvers, the Requires/Provides graph and its stage plan, --fields, the
// read-back plan, the exports' extra names and verify's BTF paths (struct,
// member, aliases) all come from here.
#pragma once

#include "calibration/predicate.h"
#include "calibration/read_plan.h"
#include "calibration/result.h"
#include "calibration/snapshot.h"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace offsetprobe {

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
  // A field in task_struct's own bytes of a family other than task: the
  // predicate solve_declared() (solver.h) runs on every aligned offset of
  // every stage-1 trial, and why a trial cannot test it (empty: any can).
  // Empty for the fields other solvers find.
  Predicate predicate;
  CannotTest cannot_test;

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

class ReadbackCheck; // calibration/readback_check.h

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
  std::function<void(ReadbackCheck &)> verify;
  // Runs inside each of the engine's subjects L, T and G, in that subject's
  // own task, after it set its comm and before it triggers: what the family
  // sets there for its predicates to find (e.g. a scheduling policy). Every
  // subject runs it, whatever --fields selected; it must not fail the
  // subject (what it could not set, `observe` sees).
  std::function<void(Role)> in_subject;
  // Runs in the calibrator while the subjects live (trials and validation),
  // for L, T and G when one of the family's fields is selected: reads the
  // known values from /proc (`task_dir` is /proc/<pid>/task/<tid>) into
  // Subject::known, keyed by field name.
  std::function<void(Role, const std::string &task_dir, std::map<std::string, int64_t> &known)>
      observe;
  // Non-empty: the family is solved outside the engine's task and chain
  // solvers, after the engine's stages: by its own experiment (its own
  // subjects, capture and read-back, e.g. "files": calibration/files/,
  // "net": calibration/net/), or "predicates": by its fields' predicates on
  // the engine's stage-1 trials (solve_declared). Its fields are left out of
  // the chain stages' Requires graph and of the chain solver.
  std::string experiment;
};

// The catalogue, in report order: task, cred, ns, mm, audit, files, net.
const std::vector<Family> &catalogue();

// A field of the catalogue by full name ("cred.uid"), or nullptr.
const FieldDef *find_field(const std::string &name);
// The family a field belongs to, or nullptr.
const Family *family_of(const std::string &field_name);

// Runs every family's in_subject hook for `role` (in the subject's task).
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

// The Requires graph of the selected fields (or, with no selection, of every
// field outside the task family), for plan_stages (calibration/chains.h).
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
