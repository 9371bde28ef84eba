// SPDX-License-Identifier: GPL-2.0-only
// What the cache commands (show, export, cache, bundle) share: opening the
// store named by the global options and turning cache errors into exit codes.
#pragma once

#include "cache/store.h"
#include "calibration/model/error.h"
#include "offsetprobe/usecases/global_options.h"
#include "calibration/model/exit_codes.h"

namespace offsetprobe {

// cache_exit_code: not_found is "not calibrated"; a bad configuration is a
// usage error; everything else means the cache itself is unusable.
inline int cache_exit_code(const CacheError &e) {
  switch (e.code) {
  case CacheErrorCode::not_found:
  case CacheErrorCode::wrong_build_id:
    return exit_not_calibrated;
  case CacheErrorCode::bad_cache_dir:
    return exit_usage;
  case CacheErrorCode::no_kernel_id:
    return exit_failure;
  default:
    return exit_cache;
  }
}

[[noreturn]] inline void throw_cache_error(const CacheError &e) {
  throw Fatal(cache_exit_code(e), e.message);
}

inline CacheStore open_store(const GlobalOptions &g) {
  auto dir = CacheStore::resolve_dir(g.cache_dir);
  if (!dir)
    throw_cache_error(dir.error());
  return CacheStore(dir.value());
}

inline KernelId running_kernel() {
  auto k = read_kernel_id();
  if (!k)
    throw_cache_error(k.error());
  return k.value();
}

// load_current_entry: this kernel's entry or a Fatal with the right exit code.
inline CacheEntry load_current_entry(const GlobalOptions &g) {
  CacheStore store = open_store(g);
  auto e = store.load(running_kernel());
  if (!e) {
    CacheError err = e.error();
    if (err.code == CacheErrorCode::not_found)
      err.message += "; run `offsetprobe calibrate`";
    else if (err.code != CacheErrorCode::bad_cache_dir)
      err.message += "; the entry is ignored (`offsetprobe calibrate` replaces it)";
    throw_cache_error(err);
  }
  return std::move(e.value());
}

} // namespace offsetprobe
