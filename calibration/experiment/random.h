// SPDX-License-Identifier: GPL-2.0-only
// Random numbers for the experiments' known values (names, ports, marks,
// sizes), from getrandom(2), read 256 bytes at a time per thread. One read
// per number was ~420 getrandom calls in one read-back of a bundle (the file
// trial's names and modes, the socket subject's values), each a syscall of
// ~1 us on this kind of VM. A process forked by a thread that drew numbers
// starts with an empty buffer (pthread_atfork): a child never repeats its
// parent's numbers.
#pragma once

#include <cstdint>

namespace offsetprobe {

// A uniformly random 64-bit word. Throws std::runtime_error when getrandom()
// fails.
uint64_t random_u64();

// A number in [lo, hi] (lo <= hi): lo + random_u64() % (hi - lo + 1), whose
// bias is below 2^-20 for the ranges the experiments use (below 2^44).
uint64_t random_in(uint64_t lo, uint64_t hi);

} // namespace offsetprobe
