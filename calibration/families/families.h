// SPDX-License-Identifier: GPL-2.0-only
// The family units of the catalogue (calibration/catalogue.h): one function
// per family, each in its own file. Adding a family is adding a file here and
// a line in catalogue.cpp (docs/adding-a-field-family.md).
#pragma once

#include "calibration/catalogue.h"

namespace offsetprobe {
struct LayoutOrder;
namespace chain {
struct ChainSolve;
}
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

// The chain rules of the pointer families, which solve_chains()
// (calibration/chains.cpp) runs: each family's fields found by value from the
// chain captures, then its rules by declaration order (declared layouts only).
void cred_by_value(chain::ChainSolve &cs);
void cred_by_layout(chain::ChainSolve &cs, const LayoutOrder &layout);
void mm_by_value(chain::ChainSolve &cs);
void mm_by_layout(chain::ChainSolve &cs, const LayoutOrder &layout);
void ns_by_value(chain::ChainSolve &cs);

// task_struct's two pointers to one private struct (real_cred/cred,
// mm/active_mm): 8 bytes each, shared by L and T, different in every forked
// child.
void add_task_pointer_pair(Family &f, const char *a, const char *b);

} // namespace offsetprobe::families
