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

// From the running kernel's config (/proc/config.gz gunzipped, else
// /boot/config-<release>): randomized with the option and its file as
// evidence, or nullopt when neither is readable.
std::optional<LayoutOrder> layout_from_kernel_config();
// The same from these files: `gz_path` gunzipped when it is a whole gzip
// stream, else `plain_path` as it is.
std::optional<LayoutOrder> layout_from_config_files(const std::string &gz_path,
                                                    const std::string &plain_path);

} // namespace offsetprobe
