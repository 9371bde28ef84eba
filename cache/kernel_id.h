// SPDX-License-Identifier: GPL-2.0-only
// The cache key of a kernel build. The parsing itself lives in the header-only
// consumer API (offsetprobe_reader.hpp) so offsetprobe and its consumers derive
// the same key; this header gives it offsetprobe's names.
#pragma once

#include "cache/offsetprobe_reader.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace offsetprobe {

using reader::KernelId;
using reader::make_kernel_id;     // (notes blob, /proc/version, release, version, machine)
using reader::parse_gnu_build_id; // (data, size) -> lowercase hex of NT_GNU_BUILD_ID
using reader::sha256_hex;
using reader::valid_build_id;

// read_kernel_id: the running kernel's key. Errors: no_kernel_id.
reader::Result<KernelId> read_kernel_id();

// The "kernel" object of a cache entry.
nlohmann::json to_json(const KernelId &k);

// One line for humans: "<build id> (<release>, <machine>[, weak key])".
std::string describe(const KernelId &k);

} // namespace offsetprobe
