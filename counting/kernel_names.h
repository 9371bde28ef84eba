// SPDX-License-Identifier: GPL-2.0-only
// Process names from the kernel for `offsetprobe count`: the comm and the
// executable's path the counting probe sends on its `names` ring buffer
// (struct op_count_name, bpf/counter.h) when it has the file family's
// offsets. Pure decoding, tested without root.
#pragma once

#include "counting/counter_session.h"

#include <cstddef>
#include <optional>
#include <string>

namespace offsetprobe {

// Decodes one record of the names ring buffer; nullopt when malformed. An
// executable's path is kept only when its walk was complete: a truncated
// or faulted one is left for /proc to give.
std::optional<KernelName> decode_count_name(const void *data, size_t size);

} // namespace offsetprobe
