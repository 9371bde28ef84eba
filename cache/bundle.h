// SPDX-License-Identifier: GPL-2.0-only
// Fleet bundles: the entries of many kernel builds in one file, keyed by
// build id, so a fleet calibrates each kernel build once.
//
//   {"schema": "offsetprobe-bundle/v1", "created_at": "...",
//    "tool": {"name": "offsetprobe", "version": "0.1.0"},
//    "entries": {"<build id>": <offsetprobe/v1 entry>, ...}}
#pragma once

#include "cache/store.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace offsetprobe {

inline constexpr const char *kBundleSchema = "offsetprobe-bundle/v1";
// ~3 KiB per kernel: 64 MiB is room for ~20000 kernel builds.
inline constexpr std::size_t kMaxBundleBytes = 64u << 20;
// Where `calibrate` looks for a bundle when none is given (a package ships it).
inline constexpr const char *kDefaultBundlePath = "/usr/share/offsetprobe/bundle.json";

// bundle_merge: reads entries and bundles (in any mix) and merges them. The
// same build id twice with the same offsets keeps the newer entry; with
// different offsets it is an error (two calibrations of one build must agree).
// `notes` gets one line per input. Errors: those of parse_entry, not_found,
// too_large, unsafe, io; schema_invalid for a conflict.
CacheResult<nlohmann::json> bundle_merge(const std::vector<std::string> &inputs,
                                         std::vector<std::string> &notes);

// bundle_write: writes a bundle atomically (temp file, fsync, rename).
CacheResult<std::string> bundle_write(const nlohmann::json &bundle, const std::string &path);

// lookup_bundle: the entry of `kernel` in the bundle at `path`, fully checked
// like a cache entry (and with the same file safety rules). The caller still
// validates the offsets with the reader program before trusting them.
// Errors: not_found (no file, or no entry for this build id), corrupt,
// truncated, schema_invalid, future_schema, wrong_build_id, unsafe, too_large, io.
CacheResult<CacheEntry> lookup_bundle(const std::string &path, const KernelId &kernel);

} // namespace offsetprobe
