// SPDX-License-Identifier: GPL-2.0-only
// Offline replay: every tests/fixtures/*.json.gz holds the raw trials of one
// calibration on a real kernel plus that kernel's BTF offsets
// (tests/fixtures/README.md). The solver, run here without root or BPF, must
// find every field at its BTF offset. $OFFSETPROBE_FIXTURES overrides the
// directory.
#include "calibration/chains.h"
#include "calibration/solver.h"
#include "calibration/trial_json.h"

#include "chainscan.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace offsetprobe::test {

namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  if (const char *env = std::getenv("OFFSETPROBE_FIXTURES"); env && *env)
    return env;
  return OFFSETPROBE_FIXTURE_DIR;
}

std::vector<fs::path> fixtures() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(fixture_dir(), ec)) {
    auto name = e.path().filename().string();
    if (name.size() > 8 && name.ends_with(".json.gz"))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The whole decompressed file, or nullopt on any zlib error.
std::optional<std::string> read_gz(const fs::path &p) {
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

} // namespace

TEST_CASE("fixtures: the solver finds every field at its BTF offset") {
  auto files = fixtures();
  INFO("fixture directory " << fixture_dir());
  REQUIRE_MESSAGE(!files.empty(), "no *.json.gz fixtures");
  for (const auto &path : files) {
    std::string name = path.filename().string();
    CAPTURE(name);
    auto text = read_gz(path);
    REQUIRE_MESSAGE(text, "cannot decompress");
    auto j = nlohmann::json::parse(*text, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), "not JSON");
    REQUIRE(j.value("format", "") == "offsetprobe-fixture/v1");
    std::string release = j.at("kernel").at("release").get<std::string>();
    CAPTURE(release);

    std::string error;
    auto dump = trial_dump_from_json(j.at("trials"), error);
    REQUIRE_MESSAGE(dump, "trials: " << error);
    CHECK(dump->trials.size() >= dump->options.min_trials);
    CHECK(dump->options.min_trials >= 3);

    const auto &btf = j.at("btf");
    auto result = solve(dump->trials, dump->options);
    REQUIRE(result.size() == task_struct_fields().size());
    for (const auto &f : result) {
      CAPTURE(f.name);
      INFO(std::string(to_string(f.status)) << ": " << f.reason);
      REQUIRE_MESSAGE(btf.contains(f.name), "the fixture has no BTF offset for it");
      CHECK(f.status == FieldStatus::calibrated);
      CHECK(f.offset == std::optional<uint32_t>(btf.at(f.name).get<uint32_t>()));
      CHECK(f.trials >= dump->options.min_trials);
    }

    // Fixtures of a calibration with chains (--fields all) also hold C and N
    // and the stage-2 captures: the plan must come out as the one the chain
    // scanner was loaded with, and every chain field must equal BTF (or be
    // absent from both).
    bool chains = std::any_of(dump->trials.begin(), dump->trials.end(),
                              [](const Trial &t) { return t.leader.chain.captured; });
    if (!chains)
      continue;
    ChainPlan recorded;
    for (const auto &t : dump->trials)
      if (t.leader.chain.captured) {
        recorded.ptr_offsets = t.leader.chain.ptr_offsets;
        recorded.nested_of = t.leader.chain.nested_of;
        break;
      }
    auto plan = chain_plan(dump->trials, dump->options, OP_MAX_PTRS, OP_MAX_NESTED);
    CHECK_MESSAGE(plan.error.empty(), plan.error);
    CHECK(plan.plan.ptr_offsets == recorded.ptr_offsets);
    CHECK(plan.plan.nested_of == recorded.nested_of);
    auto chain = solve_audit(dump->trials, dump->options);
    for (auto &f : solve_chains(dump->trials, dump->options))
      chain.push_back(f);
    REQUIRE(chain.size() == chain_fields().size());
    for (const auto &f : chain) {
      CAPTURE(f.name);
      INFO(std::string(to_string(f.status)) << ": " << f.reason);
      auto want = btf.contains(f.name) && !btf.at(f.name).is_null()
                      ? std::optional<uint32_t>(btf.at(f.name).get<uint32_t>())
                      : std::nullopt;
      if (want) {
        CHECK(f.status == FieldStatus::calibrated);
        CHECK(f.offset == want);
      } else {
        CHECK(f.status == FieldStatus::not_present);
      }
    }
  }
}

TEST_CASE("fixtures: arm64 kernels are among them") {
  // The replay above is per file; this keeps the arm64 ones (run.sh --arch
  // arm64 --fixtures) from quietly disappearing: at least three builds, of
  // at least two kernel series.
  std::set<std::string> releases, series;
  for (const auto &path : fixtures()) {
    auto text = read_gz(path);
    REQUIRE(text);
    auto j = nlohmann::json::parse(*text, nullptr, false);
    REQUIRE(!j.is_discarded());
    const auto &k = j.at("kernel");
    if (k.value("machine", "") != "aarch64")
      continue;
    auto release = k.at("release").get<std::string>();
    releases.insert(release);
    series.insert(release.substr(0, release.find('.', release.find('.') + 1)));
  }
  INFO("fixture directory " << fixture_dir());
  CHECK(releases.size() >= 3);
  CHECK(series.size() >= 2);
}

TEST_CASE("fixtures: a truncated file is an error, not an empty fixture") {
  auto files = fixtures();
  REQUIRE(!files.empty());
  auto text = read_gz(files.front());
  REQUIRE(text);
  fs::path cut = fs::temp_directory_path() / "offsetprobe-truncated.json.gz";
  {
    gzFile f = gzopen(cut.c_str(), "wb");
    REQUIRE(f);
    gzwrite(f, text->data(), static_cast<unsigned>(text->size()));
    gzclose(f);
  }
  auto size = fs::file_size(cut);
  fs::resize_file(cut, size / 2);
  CHECK_FALSE(read_gz(cut).has_value());
  fs::remove(cut);
}

} // namespace offsetprobe::test
