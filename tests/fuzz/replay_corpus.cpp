// SPDX-License-Identifier: GPL-2.0-only
// Replays the fuzz corpus (tests/fuzz/corpus, plus any file or directory
// given) through the fuzz target without libFuzzer: what scripts/fuzz.sh
// found once stays fixed in every build. The target traps on a broken
// invariant (store and reader disagree, a round trip fails) and a crash ends
// the process: both fail the test. Besides, the seeds' verdicts are pinned:
// a file named valid*.json must be accepted by the store's parse, every
// other seed refused, so that a replay that reaches no deep path (everything
// refused, or everything accepted) cannot pass.
// Usage: replay_corpus PATH...
#include "cache/store.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; i++) {
    if (fs::is_directory(argv[i])) {
      for (const auto &e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file())
          files.push_back(e.path());
    } else {
      files.emplace_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::printf("FAIL: no corpus file to replay\n");
    return 1;
  }
  int bad = 0, accepted = 0;
  for (const auto &f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      std::printf("FAIL %s: cannot read\n", f.c_str());
      bad++;
      continue;
    }
    const std::string bytes = ss.str();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
    const bool ok = bool(offsetprobe::parse_entry(bytes, f.string()));
    const bool want = f.filename().string().starts_with("valid");
    accepted += ok;
    if (ok != want) {
      std::printf("FAIL %s: %s by the store, want %s\n", f.c_str(), ok ? "accepted" : "refused",
                  want ? "accepted" : "refused");
      bad++;
    } else {
      std::printf("ok   %s (%zu bytes): %s\n", f.filename().c_str(), bytes.size(),
                  ok ? "accepted" : "refused");
    }
  }
  std::printf("replayed %zu corpus files, %d accepted, %d failed\n", files.size(), accepted, bad);
  return bad ? 1 : 0;
}
