// SPDX-License-Identifier: GPL-2.0-only
// The compressed JSON fixtures of the offline replay tests
// (test_fixture_replay, test_net_replay): listing a directory's *.json.gz
// and reading one whole.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace offsetprobe::test {

// The *.json.gz files of `dir`, sorted; none if it cannot be read.
inline std::vector<std::filesystem::path> gz_fixtures(const std::filesystem::path &dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto &e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.size() > 8 && name.ends_with(".json.gz"))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The whole decompressed file, or nullopt on any zlib error.
inline std::optional<std::string> read_gz(const std::filesystem::path &p) {
  gzFile f = gzopen(p.c_str(), "rb");
  if (!f)
    return std::nullopt;
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(n));
  int err = 0;
  gzerror(f, &err);
  gzclose(f);
  if (n < 0 || err != Z_OK)
    return std::nullopt;
  return out;
}

} // namespace offsetprobe::test
