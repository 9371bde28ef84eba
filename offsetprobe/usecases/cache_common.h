// SPDX-License-Identifier: GPL-2.0-only
// What the cache commands (show, export, cache, bundle) share: opening the
// store named by the global options and turning cache errors into error kinds.
#pragma once

#include "cache/store.h"
#include "calibration/model/error.h"
#include "offsetprobe/usecases/global_options.h"

namespace offsetprobe {

// cache_error_kind: not_found is "not calibrated"; a bad configuration is a
// usage error; everything else means the cache itself is unusable.
inline ErrorKind cache_error_kind(const CacheError &e) {
  switch (e.code) {
  case CacheErrorCode::not_found:
  case CacheErrorCode::wrong_build_id:
    return ErrorKind::not_calibrated;
  case CacheErrorCode::bad_cache_dir:
    return ErrorKind::usage;
  case CacheErrorCode::no_kernel_id:
    return ErrorKind::failure;
  default:
    return ErrorKind::cache;
  }
}

[[noreturn]] inline void throw_cache_error(const CacheError &e) {
  throw Error(cache_error_kind(e), e.message);
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

// load_current_entry: this kernel's entry or an Error of the right kind.
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
