// SPDX-License-Identifier: GPL-2.0-only
// bench_reader DIR [RUNS]: in-process cost of the header-only reader on a
// cache hit, for scripts/bench_cache.sh. Prints median and p90; asserts
// nothing (timing is never a test).
#include "cache/offsetprobe_reader.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {

void report(const char *what, int runs, const std::function<bool()> &fn) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    bool ok = fn();
    auto t1 = std::chrono::steady_clock::now();
    if (!ok) {
      std::fprintf(stderr, "%s failed\n", what);
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("%-46s runs %6d  median %9.3f us  p90 %9.3f us  min %9.3f us\n", what, runs,
              us[us.size() / 2], us[us.size() * 9 / 10], us.front());
}

} // namespace

int main(int argc, char **argv) {
  using namespace offsetprobe::reader;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CACHE_DIR [RUNS]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  int runs = argc > 2 ? std::atoi(argv[2]) : 5000;
  auto first = load_offsets(dir);
  if (!first) {
    std::fprintf(stderr, "%s\n", first.error().message.c_str());
    return 1;
  }
  KernelId k = first.value().kernel;
  report("load_offsets(dir) [build id+open+parse+check]", runs,
         [&] { return load_offsets(dir).ok(); });
  report("load_offsets_for(dir, known kernel id)", runs,
         [&] { return load_offsets_for(dir, k).ok(); });
  report("read_kernel_id()", runs, [] { return read_kernel_id().ok(); });
  const Offsets &o = first.value();
  volatile uint32_t sink = 0;
  report("Offsets::offset(\"task_struct.group_leader\")", runs * 10, [&] {
    auto v = o.offset("task_struct.group_leader");
    sink = sink + v.value_or(0);
    return v.has_value();
  });
  return 0;
}
