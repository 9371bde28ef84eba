// SPDX-License-Identifier: GPL-2.0-only
// Offline replay: every tests/fixtures/*.json.gz holds the raw trials of one
// calibration on a real kernel plus that kernel's BTF offsets
// (tests/fixtures/README.md). The solver, run here without root or BPF, must
// find every field at its BTF offset. $OFFSETPROBE_FIXTURES overrides the
// directory.
#include "calibration/solve/chains.h"
#include "calibration/families/families.h"
#include "calibration/solve/solver.h"
#include "calibration/model/trial_json.h"

#include "chainscan.h"

#include "gz_fixtures.h"

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
#include "calibration/solve/layout_order.h"
#include <fstream>
#include <sstream>

namespace offsetprobe::test {

namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  if (const char *env = std::getenv("OFFSETPROBE_FIXTURES"); env && *env)
    return env;
  return OFFSETPROBE_FIXTURE_DIR;
}

std::vector<fs::path> fixtures() {
  return gz_fixtures(fixture_dir());
}

// The chain fields of a dump as a calibration solves them: audit's, then
// the chain families'.
std::vector<FieldResult> solve_all_chains(const TrialDump &dump) {
  auto chain = solve_audit(dump.trials, dump.options);
  for (auto &f : solve_chains(dump.trials, dump.options))
    chain.push_back(f);
  return chain;
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
    auto chain = solve_all_chains(*dump);
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

// arm64 keeps the callee-saved registers of a task that is switched out in
// thread_struct.cpu_context (x19..x28, fp, sp, pc) at the end of task_struct,
// and __schedule often leaves `prev` (the task itself) in some of them: on
// 5.10 x20 and x26 held each task's own address in every trial. For the
// leader and the grandchild that is exactly what group_leader holds (their
// own address); Pixie's resolver took such a word for group_leader on arm64.
// The solver's rule that the thread's group_leader points to the leader (a
// register of the thread holds the thread) rejects them; no scan bound or
// arch special case is involved. This checks that the trap is really in the
// arm64 fixtures and that the solver still lands on BTF's offset.
TEST_CASE("fixtures: arm64 cpu_context self-pointers are not group_leader") {
  int decoys = 0;
  for (const auto &path : fixtures()) {
    auto text = read_gz(path);
    REQUIRE(text);
    auto j = nlohmann::json::parse(*text, nullptr, false);
    REQUIRE(!j.is_discarded());
    if (j.at("kernel").value("machine", "") != "aarch64")
      continue;
    std::string name = path.filename().string();
    CAPTURE(name);
    std::string error;
    auto dump = trial_dump_from_json(j.at("trials"), error);
    REQUIRE_MESSAGE(dump, error);
    uint32_t truth = j.at("btf").at("task_struct.group_leader").get<uint32_t>();
    // Offsets where L and G hold their own address in every trial.
    const auto &t0 = dump->trials.front();
    for (uint32_t o = 0; o + 8 <= t0.leader.snap.bytes.size(); o += 8) {
      bool self = true, thread_is_leader = true;
      for (const auto &t : dump->trials) {
        const Snapshot *ss[] = {&t.leader.snap, &t.grandchild.snap, &t.thread.snap};
        if (!std::all_of(std::begin(ss), std::end(ss),
                         [o](const Snapshot *s) { return s->readable_range(o, 8); })) {
          self = false;
          break;
        }
        self &= t.leader.snap.load<uint64_t>(o) == t.leader.snap.task_addr &&
                t.grandchild.snap.load<uint64_t>(o) == t.grandchild.snap.task_addr;
        thread_is_leader &= t.thread.snap.load<uint64_t>(o) == t.leader.snap.task_addr;
      }
      if (!self || o == truth)
        continue;
      CAPTURE(o);
      CHECK_FALSE(thread_is_leader); // else the experiment could not tell them apart
      decoys++;
    }
    for (const auto &f : solve(dump->trials, dump->options))
      if (f.name == "task_struct.group_leader") {
        CHECK(f.status == FieldStatus::calibrated);
        CHECK(f.offset == std::optional<uint32_t>(truth));
      }
  }
  // The trap is real: at least one arm64 kernel had such a word.
  CHECK(decoys > 0);
}

namespace {

// A layout (field name -> offset) as calibrated fields, for the detector.
std::vector<FieldResult> as_fields(const std::vector<std::pair<std::string, uint32_t>> &layout) {
  std::vector<FieldResult> out;
  for (const auto &[name, off] : layout) {
    FieldResult f;
    f.name = name;
    f.struct_name = name.substr(0, name.find('.'));
    f.member = name.substr(name.find('.') + 1);
    f.status = FieldStatus::calibrated;
    f.offset = off;
    out.push_back(f);
  }
  return out;
}

} // namespace

TEST_CASE("fixtures: every ordered pair of the layout detector holds on every Debian kernel") {
  // The detector's pairs must never call a declared layout randomized: that
  // would silence the layout rules the Debian matrix needs (every field =
  // BTF). Checked on each fixture's BTF truth and on what the solver found.
  auto files = fixtures();
  REQUIRE(!files.empty());
  for (const auto &path : files) {
    CAPTURE(path.filename().string());
    auto text = read_gz(path);
    REQUIRE(text);
    auto j = nlohmann::json::parse(*text, nullptr, false);
    REQUIRE(!j.is_discarded());
    std::vector<std::pair<std::string, uint32_t>> btf;
    for (const auto &[name, off] : j.at("btf").items())
      if (off.is_number_unsigned())
        btf.emplace_back(name, off.get<uint32_t>());
    // At least task_struct's own fields (a --fields task fixture has no more).
    CHECK(btf.size() >= task_struct_fields().size());
    auto l = detect_layout_order(as_fields(btf));
    CHECK_MESSAGE(!l.randomized, l.evidence);
    std::string error;
    auto dump = trial_dump_from_json(j.at("trials"), error);
    REQUIRE(dump);
    auto solved = detect_layout_order(solve(dump->trials, dump->options));
    CHECK_MESSAGE(!solved.randomized, solved.evidence);
  }
}

TEST_CASE("kernel config: randstruct is a line of its own, set to y") {
  CHECK(randstruct_in_config("CONFIG_RANDSTRUCT_FULL=y") == "CONFIG_RANDSTRUCT_FULL=y");
  CHECK(randstruct_in_config("A=1\nCONFIG_RANDSTRUCT_PERFORMANCE=y\nB=2\n") ==
        "CONFIG_RANDSTRUCT_PERFORMANCE=y");
  CHECK(randstruct_in_config("A=1\nCONFIG_GCC_PLUGIN_RANDSTRUCT=y") ==
        "CONFIG_GCC_PLUGIN_RANDSTRUCT=y");
  // Not set, commented out, another value, a longer name or a longer line:
  // none of these is randstruct.
  for (const char *no :
       {"", "# CONFIG_RANDSTRUCT_FULL is not set\n", "CONFIG_RANDSTRUCT_FULL=n\n",
        "CONFIG_RANDSTRUCT_NONE=y\n", "XCONFIG_RANDSTRUCT_FULL=y\n", "CONFIG_RANDSTRUCT_FULL=yes\n",
        "CONFIG_RANDSTRUCT_FULL=y\r\n", " CONFIG_RANDSTRUCT_FULL=y\n"}) {
    CAPTURE(no);
    CHECK(randstruct_in_config(no).empty());
  }
  // A near miss before the real line does not hide it.
  CHECK(randstruct_in_config("XCONFIG_RANDSTRUCT_FULL=y\nCONFIG_RANDSTRUCT_FULL=y\n") ==
        "CONFIG_RANDSTRUCT_FULL=y");
}

TEST_CASE("randomized kernels' truth (tests/fixtures/randstruct/): detected as randomized") {
  // Kernels a and b (CONFIG_RANDSTRUCT_FULL): their build-time offsetof()
  // truth, as if every field had been calibrated exactly.
  std::error_code ec;
  int seen = 0;
  for (const auto &e : fs::directory_iterator(fixture_dir() / "randstruct", ec)) {
    if (!e.path().string().ends_with(".truth.txt"))
      continue;
    CAPTURE(e.path().filename().string());
    std::ifstream in(e.path());
    std::vector<std::pair<std::string, uint32_t>> layout;
    std::string key;
    uint32_t off;
    while (in >> key >> off) {
      auto sep = key.find("__");
      if (sep == std::string::npos || key.ends_with("__SIZE"))
        continue;
      std::string member = key.substr(sep + 2);
      if (member == "ns_inum")
        member = "ns.inum";
      layout.emplace_back(key.substr(0, sep) + "." + member, off);
    }
    CHECK(layout.size() >= 40);
    auto l = detect_layout_order(as_fields(layout));
    CHECK(l.randomized);
    CHECK(l.evidence.find("declares") != std::string::npos);
    seen++;
  }
  CHECK(seen >= 2);
}

TEST_CASE("randomized kernels' captures (tests/fixtures/randstruct/*.json.gz): 0 wrong") {
  // Real captures of the randomized kernels (scripts/matrix/fixture.sh from a
  // --kernel-dir run), judged against their build-time offsetof() truth, not
  // their BTF (which describes the declared order). Every field the solver
  // calls calibrated must equal the truth; the only fields it may leave
  // unresolved are the real_cred/cred pair, and only as interchangeable with
  // the truth among its candidates (no experiment tells them apart:
  // docs/randstruct.md); the chains (cred ids, mm_struct, namespaces) must
  // all come out exact through it.
  std::error_code ec;
  int seen = 0;
  for (const auto &e : fs::directory_iterator(fixture_dir() / "randstruct", ec)) {
    if (!e.path().string().ends_with(".json.gz"))
      continue;
    CAPTURE(e.path().filename().string());
    auto text = read_gz(e.path());
    REQUIRE(text);
    auto j = nlohmann::json::parse(*text, nullptr, false);
    REQUIRE(!j.is_discarded());
    REQUIRE(j.contains("truth"));
    CHECK_FALSE(j.contains("btf")); // a randomized kernel's BTF is no oracle
    const auto &truth = j.at("truth");
    std::string error;
    auto dump = trial_dump_from_json(j.at("trials"), error);
    REQUIRE_MESSAGE(dump, "trials: " << error);
    CHECK(dump->trials.size() >= dump->options.min_trials);

    auto result = solve(dump->trials, dump->options);
    auto layout = detect_layout_order(result);
    CHECK_MESSAGE(layout.randomized, layout.evidence);
    const std::set<std::string> pair = {"task_struct.real_cred", "task_struct.cred"};
    int exact = 0, unresolved = 0;
    auto judge = [&](const FieldResult &f) {
      CAPTURE(f.name);
      INFO(std::string(to_string(f.status)) << ": " << f.reason);
      REQUIRE_MESSAGE(truth.contains(f.name), "the fixture has no truth for it");
      auto want = truth.at(f.name).get<uint32_t>();
      if (f.status == FieldStatus::calibrated) {
        CHECK(f.offset == std::optional<uint32_t>(want));
        exact++;
        return;
      }
      unresolved++;
      CHECK(pair.count(f.name) == 1);
      CHECK(f.status == FieldStatus::ambiguous);
      CHECK(f.interchangeable);
      CHECK(std::find(f.candidates.begin(), f.candidates.end(), want) != f.candidates.end());
    };
    for (const auto &f : result)
      judge(f);
    CHECK(exact >= static_cast<int>(task_struct_fields().size()) - 2);

    auto chain = solve_all_chains(*dump);
    REQUIRE(chain.size() == chain_fields().size());
    for (const auto &f : chain) {
      CAPTURE(f.name);
      INFO(std::string(to_string(f.status)) << ": " << f.reason);
      if (!pair.count(f.name))
        CHECK(f.status == FieldStatus::calibrated);
      judge(f);
    }
    CHECK(unresolved == 2); // the pair, as a pair
    MESSAGE(e.path().filename().string()
            << ": " << exact << " exact, " << unresolved << " interchangeable, 0 wrong");
    seen++;
  }
  CHECK(seen >= 2);
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

// A real failure (tests/fixtures/failures/, the matrix of 2026-12-04): on
// 6.12.94+deb12-rt-amd64 in a 1 GiB guest, C's struct cred in trial 0 sat at
// physical 0x3ffdff00, 256 bytes before the end of the guest's last RAM page
// (0x3ffe0000 on is firmware's, not in the kernel's direct map). The chain
// scanner reads each pointee in 512 B chunks, so its first chunk ran into
// the unmapped page and faulted whole: C's ids were unreadable in that
// trial, and cred's ten fields could not be told (read_chunk.bpf.h now reads
// such a chunk again up to the page's end: test_read_chunk). What must hold
// on this capture: the
// cause is in the capture, the cred family is "cannot tell", and every
// field the solver does report equals BTF.
TEST_CASE("fixtures: a pointee that faulted at the end of RAM leaves cred unresolved, "
          "nothing wrong") {
  auto text =
      read_gz(fixture_dir() / "failures" / "6.12.94+deb12-rt-amd64-cred-end-of-ram.json.gz");
  REQUIRE(text);
  auto j = nlohmann::json::parse(*text, nullptr, false);
  REQUIRE(!j.is_discarded());
  std::string error;
  auto dump = trial_dump_from_json(j.at("trials"), error);
  REQUIRE_MESSAGE(dump, error);
  const auto &btf = j.at("btf");
  const uint32_t cred_off = btf.at("task_struct.cred").get<uint32_t>();
  // The cause: C's cred pointer in trial 0 is within one chunk of a 4 KiB
  // page's end, and none of its chunks was read; L's, in the same trial, was.
  const Trial &t0 = dump->trials.at(0);
  const auto &plan = t0.creds.chain.ptr_offsets;
  auto at = std::find(plan.begin(), plan.end(), cred_off);
  REQUIRE(at != plan.end());
  size_t k = static_cast<size_t>(at - plan.begin());
  uint64_t ptr = t0.creds.snap.load<uint64_t>(cred_off);
  CHECK(4096 - (ptr & 4095) < OP_CHAIN_CHUNK_SIZE);
  CHECK(t0.creds.chain.pointees.at(k).readable == 0);
  CHECK(t0.leader.chain.pointees.at(k).readable != 0);

  auto fields = solve(dump->trials, dump->options);
  auto chain = solve_all_chains(*dump);
  fields.insert(fields.end(), chain.begin(), chain.end());
  int cred_unresolved = 0;
  for (const auto &f : fields) {
    CAPTURE(f.name);
    INFO(std::string(to_string(f.status)) << ": " << f.reason);
    bool cred = f.name.rfind("cred.", 0) == 0 || f.name == "task_struct.cred" ||
                f.name == "task_struct.real_cred";
    if (cred) {
      CHECK(f.status == FieldStatus::unresolved);
      CHECK_FALSE(f.offset.has_value());
      cred_unresolved++;
    } else if (f.status == FieldStatus::calibrated && btf.contains(f.name) &&
               !btf.at(f.name).is_null()) {
      CHECK(f.offset == std::optional<uint32_t>(btf.at(f.name).get<uint32_t>()));
    }
  }
  CHECK(cred_unresolved == 10);
}

} // namespace offsetprobe::test
