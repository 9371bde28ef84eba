// SPDX-License-Identifier: GPL-2.0-only
// What the network family's subjects (seq_subject, udp_subject,
// retrans_subject) share: an owned file descriptor, closed on every path,
// errno's text, and a random number in a range.
#pragma once

#include "calibration/experiment/random.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace offsetprobe::net {

class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0)
      ::close(std::exchange(fd_, -1));
  }

private:
  int fd_;
};

// "what: <strerror(errno)>".
inline std::string errno_text(const std::string &what) {
  return what + ": " + std::strerror(errno);
}

// A random number in [lo, hi] (getrandom; std::runtime_error when it fails).
inline uint32_t random_in(uint32_t lo, uint32_t hi) {
  return static_cast<uint32_t>(offsetprobe::random_in(lo, hi));
}

} // namespace offsetprobe::net
