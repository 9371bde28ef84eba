// SPDX-License-Identifier: GPL-2.0-only
// offsetprobe_reader.hpp: the consumer API of the offsetprobe cache.
//
// Header-only, C++17, depends only on <nlohmann/json.hpp> and POSIX. Other
// agents include it to get the task_struct offsets of the running kernel:
//
//   auto r = offsetprobe::reader::load_offsets();
//   if (!r) { log(r.error().message); return; }
//   if (auto off = r.value().offset("task_struct.group_leader")) use(*off);
//
// Nothing throws out of this header: every failure is an Error value with its
// own code and message. offsetprobe's own store (cache/store.cpp) uses the same
// functions, so a file the tool accepts is exactly a file this reader accepts.
//
// Safety rules (a planted cache file would steer other agents' kernel reads):
//  - the entry is opened with O_NOFOLLOW relative to the opened cache dir;
//    it must be a regular file with one link, at most kMaxEntryBytes (checked
//    with fstat before reading);
//  - when running as root, the cache dir and the file must be owned by root
//    and not group- or world-writable, and the dir must not be a symlink;
//  - the schema must be "offsetprobe/v1" (a newer version is refused, not
//    misread), the entry's build id must be the running kernel's, and JSON
//    nesting deeper than kMaxJsonDepth is refused before parsing;
//  - only fields that were calibrated AND validated, with an offset below
//    kMaxOffset, are returned. Nothing else is ever reported as an offset
//    (never 0 for "unknown").
//
// The parts, in reader/ next to this file (a consumer includes only this one):
//   constants.hpp  the schema name, the cache dir, the limits (kMaxEntryBytes...)
//   errors.hpp     ErrorCode, Error, Result
//   sha256.hpp     SHA-256, for the /proc/version key
//   kernel_id.hpp  KernelId, read_kernel_id()
//   files.hpp      resolve_cache_dir(), Safety, open_cache_dir(), read_file_at()
//   json.hpp       parse_json(), valid_name(), valid_timestamp(), check_schema()
//   entry.hpp      check_entry_header(), Offsets, extract_offsets(), parse_entry()
// and below: load_offsets_for() and load_offsets().
#pragma once

#include "reader/constants.hpp"
#include "reader/errors.hpp"
#include "reader/sha256.hpp"
#include "reader/kernel_id.hpp"
#include "reader/files.hpp"
#include "reader/json.hpp"
#include "reader/entry.hpp"

#include <unistd.h>

#include <exception>
#include <string>

namespace offsetprobe::reader {

// entry_file_name: "<build id>.json".
inline std::string entry_file_name(const std::string &build_id) {
  return build_id + ".json";
}

// load_offsets_for: the entry of `kernel` in `cache_dir` (already resolved).
inline Result<Offsets> load_offsets_for(const std::string &cache_dir, const KernelId &kernel,
                                        const Safety &s = {}) {
  if (!valid_build_id(kernel.build_id))
    return make_error(ErrorCode::no_kernel_id,
                      "invalid kernel build id \"" + kernel.build_id + "\"");
  auto dfd = open_cache_dir(cache_dir, s);
  if (!dfd) {
    Error e = dfd.error();
    if (e.code == ErrorCode::not_found)
      e.message = "not calibrated: " + e.message;
    return e;
  }
  std::string name = entry_file_name(kernel.build_id);
  std::string path = cache_dir + "/" + name;
  auto bytes = read_file_at(dfd.value(), name, path, kMaxEntryBytes, s);
  ::close(dfd.value());
  if (!bytes) {
    Error e = bytes.error();
    if (e.code == ErrorCode::not_found)
      e.message = "not calibrated: no entry for kernel " + kernel.build_id + " (" + kernel.release +
                  ") in " + cache_dir;
    return e;
  }
  auto o = parse_entry(bytes.value(), path, &kernel.build_id);
  if (o)
    o.value().path = path;
  return o;
}

// load_offsets: the offsets of the running kernel. `cache_dir` empty means
// $OFFSETPROBE_CACHE_DIR, else /var/cache/offsetprobe. Never throws.
// Errors: every ErrorCode.
inline Result<Offsets> load_offsets(const std::string &cache_dir = "") noexcept {
  try {
    auto dir = resolve_cache_dir(cache_dir);
    if (!dir)
      return dir.error();
    auto k = read_kernel_id();
    if (!k)
      return k.error();
    return load_offsets_for(dir.value(), k.value());
  } catch (const std::exception &e) { // std::bad_alloc and the like
    return make_error(ErrorCode::io, std::string("unexpected failure: ") + e.what());
  }
}

} // namespace offsetprobe::reader
