// SPDX-License-Identifier: GPL-2.0-only
// The kernel config reader (calibration/experiment/kernel_config.h) on files
// made here: /proc/config.gz is streamed through the randstruct check a
// block of whole lines at a time, so an option on a block's edge, a config
// without a last newline, a truncated gzip stream (the plain file instead)
// and missing files are what must come out right.
#include "calibration/experiment/kernel_config.h"

#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace offsetprobe::test {

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/op-kconfig-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_gz(const fs::path &p, const std::string &text) {
  gzFile gz = gzopen(p.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())) ==
          static_cast<int>(text.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

void write_plain(const fs::path &p, const std::string &text) {
  std::ofstream(p, std::ios::binary) << text;
}

// `n` bytes of config lines that are not randstruct.
std::string filler(size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; i++)
    s += "CONFIG_FILLER_" + std::to_string(i) + "=y\n";
  return s;
}

} // namespace

TEST_CASE("kernel config: randstruct found wherever its line falls in the stream") {
  TempDir d;
  // Around the reader's 16 KiB blocks: before, across and after an edge.
  for (size_t before : {0ul, 100ul, 16370ul, 16384ul, 16390ul, 40000ul}) {
    CAPTURE(before);
    std::string text = filler(before).substr(0, before);
    if (!text.empty() && text.back() != '\n')
      text += "\n";
    text += "CONFIG_RANDSTRUCT_FULL=y\n" + filler(20000);
    write_gz(d.path / "config.gz", text);
    auto l = layout_from_config_files(d.path / "config.gz", d.path / "none");
    REQUIRE(l);
    CHECK(l->randomized);
    CHECK(l->evidence == (d.path / "config.gz").string() + " has CONFIG_RANDSTRUCT_FULL=y");
  }
  // The last line without its newline still counts.
  write_gz(d.path / "config.gz", filler(30000) + "CONFIG_GCC_PLUGIN_RANDSTRUCT=y");
  auto l = layout_from_config_files(d.path / "config.gz", d.path / "none");
  REQUIRE(l);
  CHECK(l->randomized);
}

TEST_CASE("kernel config: not randomized, a near miss, the plain file, none at all") {
  TempDir d;
  write_gz(d.path / "config.gz",
           filler(50000) + "# CONFIG_RANDSTRUCT_FULL is not set\nCONFIG_RANDSTRUCT_NONE=y\n");
  auto l = layout_from_config_files(d.path / "config.gz", d.path / "none");
  REQUIRE(l);
  CHECK_FALSE(l->randomized);
  CHECK(l->evidence.empty());

  // A truncated gzip stream counts for nothing: the plain file answers.
  std::string text = filler(60000) + "CONFIG_RANDSTRUCT_PERFORMANCE=y\n";
  write_gz(d.path / "whole.gz", text);
  std::string z;
  {
    std::ifstream in(d.path / "whole.gz", std::ios::binary);
    z.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_plain(d.path / "cut.gz", z.substr(0, z.size() / 2));
  write_plain(d.path / "config", filler(100) + "CONFIG_RANDSTRUCT_FULL=y\n");
  l = layout_from_config_files(d.path / "cut.gz", d.path / "config");
  REQUIRE(l);
  CHECK(l->randomized);
  CHECK(l->evidence == (d.path / "config").string() + " has CONFIG_RANDSTRUCT_FULL=y");

  // Not gzip at all: the plain file, here without the option.
  write_plain(d.path / "config", filler(100));
  l = layout_from_config_files(d.path / "config", d.path / "config");
  REQUIRE(l);
  CHECK_FALSE(l->randomized);

  CHECK_FALSE(layout_from_config_files(d.path / "none.gz", d.path / "none"));
}

} // namespace offsetprobe::test
