// SPDX-License-Identifier: GPL-2.0-only
// The family units of the catalogue (calibration/model/catalogue.h): one function
// per family, each in its own file. Adding a family is adding a file here and
// a line in all.cpp (docs/adding-a-field-family.md).
#pragma once

#include "calibration/model/catalogue.h"

namespace offsetprobe {

// The audit family's chain rule (its ChainRule::from_task): loginuid and
// sessionid in task_struct's own bytes, from the chain experiment's subject
// C. not_present when no subject has /proc/<pid>/loginuid. Public for its
// tests.
std::vector<FieldResult> solve_audit(const std::vector<Trial> &trials, const SolveOptions &opt);

} // namespace offsetprobe

namespace offsetprobe::families {

Family task();
Family cred();
Family ns();
Family mm();
Family audit();
Family sched();
Family files();
// The file family's field names, in report order.
const std::vector<std::string> &files_field_names();
Family net();

// task_struct's two pointers to one private struct (real_cred/cred,
// mm/active_mm): 8 bytes each, shared by L and T, different in every forked
// child.
void add_task_pointer_pair(Family &f, const char *a, const char *b);

} // namespace offsetprobe::families
