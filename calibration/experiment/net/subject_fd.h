// SPDX-License-Identifier: GPL-2.0-only
// What the network family's subjects (seq_subject, udp_subject) share: an
// owned file descriptor, closed on every path, and errno's text.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstring>
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

} // namespace offsetprobe::net
