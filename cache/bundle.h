// SPDX-License-Identifier: GPL-2.0-only
// Fleet bundles: the entries of many kernel builds in one file, keyed by
// build id, so a fleet calibrates each kernel build once.
//
// v2 (written by default) stores each distinct layout once: many builds of a
// series share every offset (docs/cache-format.md):
//
//   {"schema": "offsetprobe-bundle/v2", "created_at": "...", "tool": {...},
//    "layouts": {"<layout id>": {"fields": [{"name", "offset", "size",
//                                            "status", ...}, ...]}},
//    "builds": {"<build id>": {"layout": "<layout id>", "kernel": {...},
//               "calibrated_at": "...", "tool": {...},
//               "calibration": {everything but "fields"}}}}
//
// v1 (still read, and written with --format v1):
//
//   {"schema": "offsetprobe-bundle/v1", "created_at": "...", "tool": {...},
//    "entries": {"<build id>": <offsetprobe/v1 entry>, ...}}
#pragma once

#include "cache/store.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace offsetprobe {

inline constexpr const char *kBundleSchema = "offsetprobe-bundle/v2";
inline constexpr const char *kBundleSchemaV1 = "offsetprobe-bundle/v1";
// ~3 KiB per kernel: 64 MiB is room for ~20000 kernel builds.
inline constexpr std::size_t kMaxBundleBytes = 64u << 20;
// Where `calibrate` looks for a bundle when none is given: the fleet archive
// that `meson install` and the .deb ship (dist/fleet/ARCH/bundle.json, the
// package's architecture's).
#ifndef OFFSETPROBE_BUNDLE_PATH
#define OFFSETPROBE_BUNDLE_PATH "/usr/share/offsetprobe/bundle.json"
#endif
inline constexpr const char *kDefaultBundlePath = OFFSETPROBE_BUNDLE_PATH;

// bundle_merge: reads entries and bundles (in any mix) and merges them. The
// same build id twice with the same offsets keeps the newer entry; with
// different offsets it is an error (two calibrations of one build must agree).
// `notes` gets one line per input. Errors: those of parse_entry, not_found,
// too_large, unsafe, io; schema_invalid for a conflict.
// The result is a v1 bundle; bundle_compact makes it v2.
CacheResult<nlohmann::json> bundle_merge(const std::vector<std::string> &inputs,
                                         std::vector<std::string> &notes);

// bundle_compact: a v1 bundle as v2, each distinct layout stored once.
// bundle_entries: the build id -> offsetprobe/v1 entry object of a bundle of
// either version (schema_invalid on a malformed v2: an unknown layout, a
// field that is not an object, ...).
nlohmann::json bundle_compact(const nlohmann::json &v1);
CacheResult<nlohmann::json> bundle_entries(const nlohmann::json &bundle, const std::string &what);

// bundle_write: writes a bundle atomically (temp file, fsync, rename).
CacheResult<std::string> bundle_write(const nlohmann::json &bundle, const std::string &path);

// lookup_bundle: the entry of `kernel` in the bundle at `path`, fully checked
// like a cache entry (and with the same file safety rules). The caller still
// validates the offsets with the reader program before trusting them.
// Errors: not_found (no file, or no entry for this build id), corrupt,
// truncated, schema_invalid, future_schema, wrong_build_id, unsafe, too_large, io.
// `named`, if set, is called once the bundle's text is read and names the
// build id (a likely hit), before it is parsed: a caller may start work the
// hit will need beside the parse.
CacheResult<CacheEntry> lookup_bundle(const std::string &path, const KernelId &kernel,
                                      const std::function<void()> &named = {});

} // namespace offsetprobe
