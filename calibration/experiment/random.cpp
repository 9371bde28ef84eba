// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/random.h"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include <pthread.h>
#include <sys/random.h>

namespace offsetprobe {

namespace {

struct Pool {
  uint64_t words[32];
  unsigned left = 0;
};

thread_local Pool t_pool;

// In the child of a fork(): only the forking thread exists there, and its
// buffer is the parent's.
void forget_in_child() {
  t_pool.left = 0;
}

} // namespace

uint64_t random_u64() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, forget_in_child); });
  Pool &p = t_pool;
  if (p.left == 0) {
    auto *bytes = reinterpret_cast<unsigned char *>(p.words);
    size_t got = 0;
    while (got < sizeof p.words) {
      ssize_t n = getrandom(bytes + got, sizeof p.words - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
      got += static_cast<size_t>(n);
    }
    p.left = sizeof p.words / sizeof p.words[0];
  }
  return p.words[--p.left];
}

uint64_t random_in(uint64_t lo, uint64_t hi) {
  const uint64_t span = hi - lo + 1; // 0: the whole range
  return span ? lo + random_u64() % span : random_u64();
}

} // namespace offsetprobe
