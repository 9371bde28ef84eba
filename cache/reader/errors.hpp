// SPDX-License-Identifier: GPL-2.0-only
// reader/errors.hpp: ErrorCode, Error and Result, how every function of the
// reader reports a failure (nothing throws). Part of offsetprobe_reader.hpp.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace offsetprobe::reader {

// ErrorCode: why no offsets could be had. Each has its own message too.
enum class ErrorCode {
  not_found,      // no entry for this kernel (or no cache dir): run calibrate
  corrupt,        // not JSON, or nested too deeply
  truncated,      // JSON that ends early (an interrupted write or copy)
  schema_invalid, // JSON, but not a valid offsetprobe/v1 entry
  future_schema,  // written by a newer offsetprobe
  wrong_build_id, // an entry for another kernel build
  unsafe,         // symlink, hard link, not a regular file, bad owner or mode
  too_large,      // bigger than the size cap
  io,             // a read or open failed otherwise
  bad_cache_dir,  // the configured cache dir is unusable (e.g. relative env value)
  no_kernel_id,   // neither a build id nor /proc/version could be read
};

inline const char *to_string(ErrorCode c) {
  switch (c) {
  case ErrorCode::not_found:
    return "not_found";
  case ErrorCode::corrupt:
    return "corrupt";
  case ErrorCode::truncated:
    return "truncated";
  case ErrorCode::schema_invalid:
    return "schema_invalid";
  case ErrorCode::future_schema:
    return "future_schema";
  case ErrorCode::wrong_build_id:
    return "wrong_build_id";
  case ErrorCode::unsafe:
    return "unsafe";
  case ErrorCode::too_large:
    return "too_large";
  case ErrorCode::io:
    return "io";
  case ErrorCode::bad_cache_dir:
    return "bad_cache_dir";
  case ErrorCode::no_kernel_id:
    return "no_kernel_id";
  }
  return "io";
}

struct Error {
  ErrorCode code = ErrorCode::io;
  std::string message;
};

// Result: a value or an Error. Small on purpose; no exceptions.
template <class T> class Result {
public:
  Result(T v) : v_(std::move(v)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T &value() const & { return std::get<0>(v_); }
  T &value() & { return std::get<0>(v_); }
  T &&value() && { return std::get<0>(std::move(v_)); }
  const Error &error() const { return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

inline Error make_error(ErrorCode c, std::string msg) {
  return Error{c, std::move(msg)};
}

} // namespace offsetprobe::reader
