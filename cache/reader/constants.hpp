// SPDX-License-Identifier: GPL-2.0-only
// reader/constants.hpp: the schema name, the cache location and the limits the
// reader enforces. Part of offsetprobe_reader.hpp; include that, not this.
#pragma once

#include <cstddef>
#include <cstdint>

namespace offsetprobe::reader {

inline constexpr const char *kSchema = "offsetprobe/v1";
inline constexpr int kSchemaVersion = 1;
inline constexpr const char *kDefaultCacheDir = "/var/cache/offsetprobe";
inline constexpr const char *kCacheDirEnv = "OFFSETPROBE_CACHE_DIR";
inline constexpr const char *kProcVersionPrefix = "procversion-";
// A real entry is a few KiB; 1 MiB leaves room and bounds what a reader parses.
inline constexpr std::size_t kMaxEntryBytes = 1 << 20;
// Entries nest 4 levels deep; a deeper file is hostile or broken. nlohmann's
// parser copes with deep input, but recursive users of the tree (dump,
// comparison) would not, so it is refused up front.
inline constexpr std::size_t kMaxJsonDepth = 32;
// Exclusive bound: no struct we read is anywhere near 64 KiB.
inline constexpr uint32_t kMaxOffset = 65536;
inline constexpr uint32_t kMaxFieldSize = 4096;

} // namespace offsetprobe::reader
