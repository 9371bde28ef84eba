// SPDX-License-Identifier: GPL-2.0-only
// The running kernel's config, as far as the calibration and `verify` need
// it: whether the struct layout is randomized (randstruct). Reading it is
// kernel access, so it sits here, not with the pure layout rules
// (calibration/solve/layout_order.h, which judge its text).
#pragma once

#include "calibration/model/solve_options.h"

#include <optional>
#include <string>

namespace offsetprobe {

// The running kernel's config: /proc/config.gz (gunzipped), else
// /boot/config-<release>. nullopt when neither is readable. `source` says which.
std::optional<std::string> read_kernel_config(std::string *source = nullptr);

// From the running kernel's config: randomized with the option as evidence,
// or nullopt when the config is unavailable.
std::optional<LayoutOrder> layout_from_kernel_config();

} // namespace offsetprobe
