// SPDX-License-Identifier: GPL-2.0-only
// The on-disk store: one JSON entry per kernel build, <dir>/<build id>.json.
//
// Reading goes through the same functions as the header-only consumer API
// (offsetprobe_reader.hpp), so offsetprobe accepts exactly what consumers
// accept; on top of that, the "calibration" object is parsed strictly into a
// CalibrationResult (calibration/model/result_json.h).
#pragma once

#include "cache/kernel_id.h"
#include "cache/offsetprobe_reader.hpp"
#include "calibration/model/result.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offsetprobe {

using CacheErrorCode = reader::ErrorCode;
using CacheError = reader::Error;
template <class T> using CacheResult = reader::Result<T>;

inline constexpr const char *kCacheSchema = reader::kSchema; // "offsetprobe/v1"

// CacheEntry: one kernel's calibration as stored.
struct CacheEntry {
  KernelId kernel;
  std::string tool_name = "offsetprobe";
  std::string tool_version = OFFSETPROBE_VERSION;
  std::string calibrated_at; // ISO-8601 UTC; save() fills it in when empty
  CalibrationResult calibration;
};

// utc_now_iso8601: "2025-01-31T12:34:56Z".
std::string utc_now_iso8601();

nlohmann::json to_json(const CacheEntry &e);

// entry_from_json: the full check of an entry object (envelope, the reader's
// field rules, then the strict calibration parse). With an expected build id,
// an entry for another kernel is wrong_build_id. Errors: schema_invalid,
// future_schema, wrong_build_id.
CacheResult<CacheEntry> entry_from_json(const nlohmann::json &j, const std::string &what,
                                        const std::string *expected_build_id = nullptr);

// parse_entry: bytes -> entry (adds corrupt/truncated to entry_from_json's).
CacheResult<CacheEntry> parse_entry(std::string_view bytes, const std::string &what,
                                    const std::string *expected_build_id = nullptr);

// CacheLock: holds flock(LOCK_EX) on <dir>/.lock until destroyed.
class CacheLock {
public:
  explicit CacheLock(int fd) : fd_(fd) {}
  CacheLock(CacheLock &&o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  CacheLock &operator=(CacheLock &&o) noexcept;
  CacheLock(const CacheLock &) = delete;
  CacheLock &operator=(const CacheLock &) = delete;
  ~CacheLock();

private:
  int fd_;
};

// ListedEntry: one file of `cache list`.
struct ListedEntry {
  std::string build_id; // from the file name
  std::string path;
  std::optional<CacheEntry> entry; // when it loads
  std::optional<CacheError> error; // when it does not
};

// CacheStore: a cache directory. Owner/mode checks apply when running as root
// (reader::Safety's default).
class CacheStore {
public:
  explicit CacheStore(std::string dir, reader::Safety safety = {})
      : dir_(std::move(dir)), safety_(safety) {}

  // resolve_dir: --cache-dir, else $OFFSETPROBE_CACHE_DIR (absolute, a
  // directory if it exists), else /var/cache/offsetprobe. Errors: bad_cache_dir.
  static CacheResult<std::string> resolve_dir(const std::string &cli_dir);

  const std::string &dir() const { return dir_; }
  std::string path_for(const std::string &build_id) const;

  // load: this kernel's entry. Errors: not_found (no dir or no entry),
  // corrupt, truncated, schema_invalid, future_schema, wrong_build_id, unsafe,
  // too_large, io.
  CacheResult<CacheEntry> load(const KernelId &kernel) const;

  // load_build_id: the entry stored under a build id, whichever kernel runs.
  CacheResult<CacheEntry> load_build_id(const std::string &build_id) const;

  // save: atomic replace of <dir>/<build id>.json (temp file in the dir,
  // fsync, rename, fsync dir; file 0644, dir created 0755). Fills in
  // calibrated_at when empty. Returns the path. Errors: unsafe, io,
  // schema_invalid (an entry that would not load back).
  CacheResult<std::string> save(CacheEntry &entry) const;

  // lock: exclusive flock on <dir>/.lock (creating the dir); blocks. Hold it
  // around "load, calibrate on a miss, save" so concurrent runs serialize and
  // the later one finds the fresh entry. Errors: unsafe, io.
  CacheResult<CacheLock> lock() const;

  // list: every *.json in the dir, loaded or with its error, by build id.
  // Errors: not_found (no dir), unsafe, io.
  CacheResult<std::vector<ListedEntry>> list() const;

  // remove: deletes <dir>/<build id>.json. Returns the path removed.
  // Errors: not_found, schema_invalid (not a build id), unsafe, io.
  CacheResult<std::string> remove(const std::string &build_id) const;

private:
  CacheResult<int> open_dir(bool create) const;

  std::string dir_;
  reader::Safety safety_;
};

// atomic_write_file: write `data` to dirfd/name via a temp file in the same
// dir, fsync, rename, fsync the dir. Mode 0644. Errors: io.
CacheResult<std::string> atomic_write_file(int dirfd, const std::string &dir,
                                           const std::string &name, std::string_view data);

// make_dirs: mkdir -p with mode 0755. Errors: io.
std::optional<CacheError> make_dirs(const std::string &dir);

} // namespace offsetprobe
