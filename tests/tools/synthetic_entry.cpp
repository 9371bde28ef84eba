// SPDX-License-Identifier: GPL-2.0-only
// op-synthetic-entry DIR [BUILD_ID]: writes a plausible, valid entry into the
// cache dir DIR, for the running kernel unless a build id is given. For the
// CLI tests and the benchmark while no real calibration is at hand; it is
// never installed.
#include "../cache_fixtures.h"

#include <cstdio>

int main(int argc, char **argv) {
  using namespace offsetprobe;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [BUILD_ID]\n", argv[0]);
    return 2;
  }
  KernelId k;
  if (argc >= 3) {
    k = test::sample_kernel(argv[2]);
  } else {
    auto r = read_kernel_id();
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    k = r.value();
  }
  auto e = test::sample_entry(k);
  e.calibrated_at.clear();
  auto saved = CacheStore(argv[1]).save(e);
  if (!saved) {
    std::fprintf(stderr, "%s\n", saved.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", saved.value().c_str());
  return 0;
}
