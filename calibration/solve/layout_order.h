// SPDX-License-Identifier: GPL-2.0-only
// Is this kernel's struct layout the declared one? A kernel built with the
// randstruct plugin (CONFIG_RANDSTRUCT_FULL / _PERFORMANCE) shuffles
// task_struct, cred and mm_struct per build; its BTF and DWARF still describe
// the declared order. Every rule that places a field by declaration order or
// adjacency is only sound on a declared layout, so each asks
// `layout_rules_allowed()` first.
//
// Two sources, either suffices:
//   - the kernel config (/proc/config.gz, /boot/config-<release>) says
//     randstruct: read once by the calibrator into SolveOptions::layout
//     (calibration/experiment/kernel_config.h; randstruct_in_config() here);
//   - the calibration itself: fields found by value alone (no rule) whose
//     relative order every unshuffled kernel keeps come out in another order.
#pragma once

#include "calibration/model/result.h"
#include "calibration/model/solve_options.h"

#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

// A pair of members of one struct that every unshuffled Linux since 2.6.29
// declares in this order, with the reason.
struct OrderedPair {
  const char *struct_name;
  const char *first;
  const char *second;
  const char *why;
};
const std::vector<OrderedPair> &ordered_pairs();

// Checks the calibrated fields of `fields` against ordered_pairs(). Call it on
// fields found by value, before any layout rule placed one. `known` (e.g. from
// the config) is kept when already randomized.
LayoutOrder detect_layout_order(const std::vector<FieldResult> &fields,
                                const LayoutOrder &known = {});

// The randstruct options of a kernel config's text: "CONFIG_RANDSTRUCT_FULL=y"
// (6.0+), "CONFIG_RANDSTRUCT_PERFORMANCE=y", or the older
// "CONFIG_GCC_PLUGIN_RANDSTRUCT=y". Empty when none is set.
std::string randstruct_in_config(const std::string &config_text);

} // namespace offsetprobe
