// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <stdexcept>
#include <string>

namespace offsetprobe {

// A fatal, user-facing error carrying its exit code (offsetprobe/exit_codes.h).
// Thrown only on the path that ends the command; recoverable conditions travel
// as values. main() prints "offsetprobe: <message>" and exits with code().
class Fatal : public std::runtime_error {
public:
  Fatal(int code, const std::string &msg) : std::runtime_error(msg), code_(code) {}
  int code() const { return code_; }

private:
  int code_;
};

} // namespace offsetprobe
