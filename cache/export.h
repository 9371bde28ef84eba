// SPDX-License-Identifier: GPL-2.0-only
// Exports of a cache entry for consumers that do not read the JSON entry:
// a flat JSON map, a C header, BCC -D flags, a shell env file.
//
// Only calibrated and validated offsets are exported (the reader's rule,
// reader::extract_offsets). The others are left out with a comment: a missing
// macro means "unknown". Pixie passed 0 for "not found" and its BPF code
// silently used header offsets instead; we never emit 0 as a placeholder.
#pragma once

#include "cache/store.h"
#include "calibration/model/result.h"

#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

enum class ExportFormat { json, c_header, bcc_cflags, env };

std::optional<ExportFormat> export_format_from_string(const std::string &s);

// macro_name (calibration/model/result.h) names each field's macro.

struct ExportOutput {
  std::string text;               // what goes to stdout
  std::vector<std::string> notes; // for stderr: omitted fields in formats without comments
};

// The macro of an interchangeable pointer pair's member (NAME_DEREF): an
// offset to dereference for the struct behind the pair, not NAME's offset.
std::string deref_macro(const std::string &field_name);

// render_export: the entry in `format`. Errors: schema_invalid (two names
// that map to one macro name).
CacheResult<ExportOutput> render_export(const CacheEntry &entry, ExportFormat format);

// Every format also defines the extra names the catalogue gives a field
// (FieldDef::export_aliases): Pixie's names for two of the offsets
// (task_struct_resolver.cc), so a BCC program written for Pixie's overrides
// can take ours unchanged.

} // namespace offsetprobe
