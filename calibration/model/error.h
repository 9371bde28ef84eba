// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace offsetprobe {

// A fatal, user-facing error carrying its exit code (exit_codes.h).
// Thrown only on the path that ends the command; recoverable conditions travel
// as values. main() prints "offsetprobe: <message>" and exits with code().
class Fatal : public std::runtime_error {
public:
  Fatal(int code, const std::string &msg) : std::runtime_error(msg), code_(code) {}
  int code() const { return code_; }

private:
  int code_;
};

// A failure as a value: what a Fatal would carry (exit code and message),
// returned where the caller may recover from it (a fallback, a check that
// reports rather than stops) instead of thrown and caught.
struct Failure {
  int code;
  std::string message;
};

// Ends the command with `f`: the one place a Failure becomes a Fatal.
[[noreturn]] inline void throw_failure(const Failure &f) {
  throw Fatal(f.code, f.message);
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
