// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace offsetprobe {

// What went wrong, for every failure the engine reports. The command line
// alone turns a kind into an exit code (in offsetprobe/cli/).
enum class ErrorKind {
  failure,        // internal or unexpected error
  usage,          // bad command line or request
  not_calibrated, // no valid cache entry for this kernel
  incomplete,     // calibrate: a field is ambiguous or unresolved
  validation,     // calibrate: the read-back of the found offsets failed
  mismatch,       // verify: an offset differs from the kernel's BTF
  permission,     // not root / missing CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN
  tracing,        // tracefs missing or no usable attach point
  subject,        // a subject process died, hung or misbehaved
  bpf,            // a BPF program failed to load or attach
  cache,          // the cache is unsafe, corrupt or cannot be written
  no_btf,         // verify: the kernel has no BTF to compare with
  no_headers,     // BCC backend: no kernel headers found
  interrupted,    // SIGINT
  terminated,     // SIGTERM
};

// An unrecoverable, user-facing error: its kind and message. Thrown only on
// the path that ends the command; recoverable conditions travel as values
// (Failure). main() prints "offsetprobe: <message>" and exits with the code
// of kind().
class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string &msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

private:
  ErrorKind kind_;
};

// A failure as a value: what an Error would carry (kind and message),
// returned where the caller may recover from it (a fallback, a check that
// reports rather than stops) instead of thrown and caught.
struct Failure {
  ErrorKind kind;
  std::string message;
};

// Ends the command with `f`: the one place a Failure becomes an Error.
[[noreturn]] inline void throw_failure(const Failure &f) {
  throw Error(f.kind, f.message);
}

// A T, or the Failure that kept it from being made.
template <class T> class Expected {
public:
  Expected(T v) : v_(std::move(v)) {}
  Expected(Failure f) : v_(std::move(f)) {}
  bool ok() const { return v_.index() == 0; }
  // The failure; only when !ok().
  const Failure &failure() const { return std::get<1>(v_); }
  // The value, moved out; a failure ends the command (throw_failure).
  T take() {
    if (!ok())
      throw_failure(failure());
    return std::move(std::get<0>(v_));
  }

private:
  std::variant<T, Failure> v_;
};

} // namespace offsetprobe
