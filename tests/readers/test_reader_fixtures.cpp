// SPDX-License-Identifier: GPL-2.0-only
// The C++ reader on the shared fixtures (tests/fixtures/cache/cases.json): the
// same cases, with the same verdicts, as the Go and Python readers' tests.
#include "cache/offsetprobe_reader.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#ifndef OFFSETPROBE_READER_FIXTURES
#error "OFFSETPROBE_READER_FIXTURES must name tests/fixtures/cache"
#endif

namespace offsetprobe::reader::test {

namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fixture's setup, made at test time (git keeps no owners, modes or
// links). Returns the directory the reader is given.
std::string apply_setup(const nlohmann::json &c, const std::string &dir, const std::string &name,
                        std::size_t max_bytes) {
  const std::string setup = c.at("setup").get<std::string>();
  const std::string entry_path = dir + "/" + name;
  auto copy_entry = [&](const std::string &to) {
    std::ofstream(to, std::ios::binary)
        << slurp(std::string(OFFSETPROBE_READER_FIXTURES) + "/" + c.at("entry").get<std::string>());
    fs::permissions(to, fs::perms(0644));
  };
  if (setup == "absent")
    return dir;
  if (setup == "fifo") {
    REQUIRE(::mkfifo(entry_path.c_str(), 0644) == 0);
    return dir;
  }
  if (setup == "too_large") {
    std::ofstream(entry_path, std::ios::binary) << std::string(max_bytes + 1, ' ');
    return dir;
  }
  if (setup == "symlink") {
    copy_entry(dir + "/elsewhere.json");
    fs::create_symlink("elsewhere.json", entry_path);
    return dir;
  }
  copy_entry(entry_path);
  if (setup == "none")
    return dir;
  if (setup == "hardlink")
    fs::create_hard_link(entry_path, dir + "/second.json");
  else if (setup == "chown_65534")
    REQUIRE(::chown(entry_path.c_str(), 65534, 65534) == 0);
  else if (setup == "chmod_0666")
    REQUIRE(::chmod(entry_path.c_str(), 0666) == 0);
  else if (setup == "dir_chmod_0775")
    REQUIRE(::chmod(dir.c_str(), 0775) == 0);
  else if (setup == "dir_symlink") {
    fs::create_directory_symlink(dir, dir + ".link");
    return dir + ".link";
  } else
    FAIL("unknown setup " << setup);
  return dir;
}

} // namespace

TEST_CASE("reader fixtures: every shared case gets its verdict") {
  const auto doc =
      nlohmann::json::parse(slurp(std::string(OFFSETPROBE_READER_FIXTURES) + "/cases.json"));
  KernelId k;
  k.build_id = doc.at("build_id").get<std::string>();
  k.strong = true;
  k.release = doc.at("release").get<std::string>();
  const auto max_bytes = doc.at("max_entry_bytes").get<std::size_t>();
  REQUIRE(max_bytes == kMaxEntryBytes);
  const bool root = ::geteuid() == 0;
  const char *ci = std::getenv("CI");
  std::size_t ran = 0;
  for (const auto &c : doc.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    const std::string verdict = c.at("verdict").get<std::string>();
    CAPTURE(name);
    if (c.value("root_only", false) && !root) {
      if (ci && std::string(ci) == "true")
        FAIL_CHECK("case " << name << " needs root, and CI=true");
      else
        MESSAGE("skipped " << name << ": the rule applies as root only");
      continue;
    }
    char tmpl[] = "/tmp/offsetprobe-fixture-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    const std::string dir = tmpl;
    fs::permissions(dir, fs::perms(0755));
    std::string given = apply_setup(c, dir, entry_file_name(k.build_id), max_bytes);
    auto r = load_offsets_for(given, k);
    if (verdict == "ok") {
      REQUIRE_MESSAGE(r, name << ": " << r.error().message);
      std::map<std::string, uint32_t> got, want;
      for (const auto &[n, f] : r.value().fields)
        got[n] = f.offset;
      for (const auto &[n, v] : c.at("offsets").items())
        want[n] = v.get<uint32_t>();
      CHECK(got == want);
      std::map<std::string, std::string> omitted, want_omitted;
      for (const auto &[n, why] : r.value().omitted)
        omitted[n] = why;
      for (const auto &[n, v] : c.at("omitted").items())
        want_omitted[n] = v.get<std::string>();
      CHECK(omitted == want_omitted);
    } else {
      CHECK_MESSAGE(!r, name << " was accepted");
      if (!r)
        CHECK_MESSAGE(std::string(to_string(r.error().code)) == verdict, r.error().message);
    }
    ++ran;
    fs::remove(dir + ".link");
    fs::remove_all(dir);
  }
  CHECK(ran >= 20);
}

} // namespace offsetprobe::reader::test
