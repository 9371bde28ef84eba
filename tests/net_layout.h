// SPDX-License-Identifier: GPL-2.0-only
// What the net family's synthetic-capture tests (test_net_seq.cpp,
// test_net_retrans.cpp) share: a layout (a field's or a decoy's name -> its
// offset from the sk) and the sorted offsets of some of its names, to
// compare with an ambiguous field's candidates; and a capture of random
// bytes (as a real sk is full of other values) with u32 values planted.
#pragma once

#include "calibration/solve/net/sock_solver.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace offsetprobe::test::net_layout {

using Layout = std::map<std::string, uint32_t>;

inline std::vector<uint32_t> at(const Layout &lay, std::initializer_list<const char *> names) {
  std::vector<uint32_t> out;
  for (auto n : names)
    out.push_back(lay.at(n));
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<uint32_t> sorted(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// A capture whose bytes are random but for `v`'s values (u32 each) at
// their offsets in `lay`. Known values are the caller's to add.
inline net::SockCapture planted(std::mt19937_64 &rng, const Layout &lay,
                                const std::map<std::string, uint32_t> &v, std::string what) {
  net::SockCapture c;
  c.what = std::move(what);
  c.data.resize(net::kSkBytes);
  for (auto &b : c.data)
    b = static_cast<uint8_t>(rng());
  c.readable = ~0ull;
  for (const auto &[name, val] : v)
    std::memcpy(c.data.data() + lay.at(name), &val, 4);
  return c;
}

} // namespace offsetprobe::test::net_layout
