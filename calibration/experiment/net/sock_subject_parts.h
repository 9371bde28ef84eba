// SPDX-License-Identifier: GPL-2.0-only
// The net subject's own small types (calibration/experiment/net/sock_subject.cpp only):
// random numbers and ports, an endpoint as the kernel stores it,
// and one socket with the values known of it.
#pragma once

#include "calibration/experiment/random.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace offsetprobe::net::subject_parts {

inline uint64_t rnd() {
  return random_u64();
}
inline uint32_t rnd_in(uint32_t lo, uint32_t hi) {
  return static_cast<uint32_t>(random_in(lo, hi));
}

inline std::string err(const std::string &what) {
  return what + ": " + std::strerror(errno);
}

// A step failed: the trial ends with this as its error.
struct TrialError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An address and port as the kernel stores them.
struct Endpoint {
  int family = AF_INET;
  std::array<uint8_t, 16> addr{}; // v4: first 4 bytes
  uint16_t port = 0;              // host order
  sockaddr_storage sa() const {
    sockaddr_storage ss{};
    if (family == AF_INET) {
      auto *s = reinterpret_cast<sockaddr_in *>(&ss);
      s->sin_family = AF_INET;
      s->sin_port = htons(port);
      std::memcpy(&s->sin_addr, addr.data(), 4);
    } else {
      auto *s = reinterpret_cast<sockaddr_in6 *>(&ss);
      s->sin6_family = AF_INET6;
      s->sin6_port = htons(port);
      std::memcpy(&s->sin6_addr, addr.data(), 16);
    }
    return ss;
  }
  socklen_t len() const { return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }
  std::vector<uint8_t> v4() const { return {addr.begin(), addr.begin() + 4}; }
  std::vector<uint8_t> v6() const { return {addr.begin(), addr.end()}; }
};

// A port whose two bytes differ (a byte palindrome reads the same in both
// orders, and would not tell skc_num from inet_sport), not used yet.
inline uint16_t fresh_port(std::vector<uint16_t> &used) {
  for (;;) {
    auto p = static_cast<uint16_t>(rnd_in(10000, 60999));
    if ((p >> 8) == (p & 0xff) || std::find(used.begin(), used.end(), p) != used.end())
      continue;
    used.push_back(p);
    return p;
  }
}

// One socket of the subject and what it knows of it.
struct Sock {
  int fd = -1;
  int family = AF_INET;
  uint32_t ss = 1; // socket.state: SS_UNCONNECTED, SS_CONNECTED (3) once connected or accepted
  std::map<std::string, std::vector<uint8_t>> known;     // the values that hold at every hit
  std::map<std::string, std::vector<uint8_t>> known_not; // values that do not
  std::map<std::string, std::pair<uint64_t, uint32_t>> known_shr;
  Sock() = default;
  Sock(Sock &&o) noexcept
      : fd(std::exchange(o.fd, -1)), family(o.family), ss(o.ss), known(std::move(o.known)),
        known_not(std::move(o.known_not)), known_shr(std::move(o.known_shr)) {}
  Sock &operator=(Sock &&o) noexcept {
    std::swap(fd, o.fd);
    family = o.family;
    ss = o.ss;
    known = std::move(o.known);
    known_not = std::move(o.known_not);
    known_shr = std::move(o.known_shr);
    return *this;
  }
  Sock(const Sock &) = delete;
  Sock &operator=(const Sock &) = delete;
  ~Sock() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace offsetprobe::net::subject_parts
