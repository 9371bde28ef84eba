// SPDX-License-Identifier: GPL-2.0-only
// calibrate() itself, offline: its stage planner, solvers and validator run on
// the recorded trials of real kernels (tests/fixtures) through a fake
// Environment (tests/fixture_environment.h) whose read-back reads the bytes
// the fixture captured. No root, no BPF. The net and files families run
// experiments of their own (calibration/experiment/net, calibration/experiment/files): the fake
// replays their recordings (tests/fixtures/net, tests/fixtures/files) where a
// kernel has one, through calibrate() and the bundle's validate_offsets().
#include "calibration/experiment/calibrator.h"
#include "calibration/families/families.h"
#include "calibration/model/catalogue.h"
#include "calibration/model/trial_json.h"
#include "calibration/solve/net/sock_trial_json.h"
#include "fixture_environment.h"
#include "gz_fixtures.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace offsetprobe::test {

namespace {

namespace fs = std::filesystem;

struct Fixture {
  std::string name;
  nlohmann::json btf;
  TrialDump dump;
};

Fixture load(const std::string &name) {
  fs::path p = fs::path(OFFSETPROBE_FIXTURE_DIR) / name;
  gzFile f = gzopen(p.c_str(), "rb");
  REQUIRE_MESSAGE(f, "cannot open " << p);
  std::string text;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(n));
  gzclose(f);
  REQUIRE(n == 0);
  auto j = nlohmann::json::parse(text);
  std::string error;
  auto dump = trial_dump_from_json(j.at("trials"), error);
  REQUIRE_MESSAGE(dump, error);
  return {name, j.at("btf"), std::move(*dump)};
}

// The catalogue's families that calibrate() solves on its own stages (the
// net and files families run their own experiments).
const char *kEngineFamilies = "task,cred,ns,mm,audit";

CalibrateOptions options(const Environment &env, const std::string &fields, bool validate) {
  CalibrateOptions opt;
  opt.environment = &env;
  opt.trials = 3;
  opt.validate = validate;
  std::string error;
  auto sel = FieldSelection::parse(fields, error);
  REQUIRE_MESSAGE(sel, error);
  opt.fields = *sel;
  return opt;
}

const FieldResult &field(const Calibration &cal, const std::string &name) {
  auto it = std::find_if(cal.result.fields.begin(), cal.result.fields.end(),
                         [&](const FieldResult &f) { return f.name == name; });
  REQUIRE_MESSAGE(it != cal.result.fields.end(), name << " not in the result");
  return *it;
}

// The stages the catalogue implies for a selection, worked out here from
// the fields' declarations (not with plan_stages): a field in task_struct's
// own bytes (no `via`) is captured in stage 1, one behind a pointer in
// stage 2; the families with experiments of their own are in neither.
std::vector<std::set<std::string>> expected_stages(const FieldSelection &sel) {
  std::set<std::string> own, behind;
  for (const auto &fam : catalogue())
    if (fam.experiment.empty())
      for (const auto &f : fam.fields)
        if (sel.has(f.name()))
          (f.via.empty() ? own : behind).insert(f.name());
  std::vector<std::set<std::string>> out{own};
  if (!behind.empty())
    out.push_back(behind);
  return out;
}

std::vector<std::set<std::string>> as_sets(const std::vector<std::vector<std::string>> &stages) {
  std::vector<std::set<std::string>> out;
  for (const auto &s : stages)
    out.emplace_back(s.begin(), s.end());
  return out;
}

// Swaps [a, a + len) and [b, b + len) in every snapshot of every subject.
void swap_bytes(std::vector<Trial> &trials, uint32_t a, uint32_t b, uint32_t len) {
  for (auto &t : trials)
    for (Subject *s : {&t.leader, &t.thread, &t.grandchild, &t.exiter, &t.creds, &t.unshared})
      if (s->snap.readable_range(a, len) && s->snap.readable_range(b, len))
        std::swap_ranges(s->snap.bytes.begin() + a, s->snap.bytes.begin() + a + len,
                         s->snap.bytes.begin() + b);
}

const char *kFixtures[] = {
    "5.10.0-32-amd64-debian.json.gz",         "5.10.0-32-arm64-debian.json.gz",
    "5.10.0-32-rt-amd64-debian.json.gz",      "6.1.0-50-amd64-debian.json.gz",
    "6.1.0-50-rt-arm64-debian.json.gz",       "6.1.0-50-cloud-arm64-debian.json.gz",
    "6.12.117+deb13-rt-amd64-debian.json.gz", "6.12.117+deb13-arm64-16k-debian.json.gz",
    "6.12.95+deb12-amd64-debian.json.gz",     "6.18.44-fc-v1045-local.json.gz",
};

} // namespace

TEST_CASE("fake backend: calibrate() on real kernels' trials finds every field at BTF's offset") {
  for (const char *name : kFixtures) {
    CAPTURE(name);
    Fixture fx = load(name);
    FixtureEnvironment env(fx.dump.trials, fx.dump.trials, fx.dump.options);
    auto opt = options(env, kEngineFamilies, true);
    Calibration cal = calibrate(opt);
    CHECK(cal.result.backend == "fixture");
    CHECK(env.scanner_loads == 1);
    CHECK(env.chain_scanner_loads == 1);
    CHECK(env.reader_loads == 1);
    CHECK(env.phases == std::vector<std::string>{"trial", "validate"});
    CHECK(as_sets(cal.stages) == expected_stages(opt.fields));
    size_t checked = 0;
    for (const auto &f : cal.result.fields) {
      CAPTURE(f.name);
      INFO(to_string(f.status) << ": " << f.reason << " " << f.validation_detail);
      REQUIRE(opt.fields.has(f.name));
      auto want = fx.btf.contains(f.name) && !fx.btf.at(f.name).is_null()
                      ? std::optional<uint32_t>(fx.btf.at(f.name).get<uint32_t>())
                      : std::nullopt;
      if (want) {
        CHECK(f.status == FieldStatus::calibrated);
        CHECK(f.offset == want);
        CHECK(f.validation == Validation::passed);
      } else {
        CHECK(f.status == FieldStatus::not_present);
      }
      checked++;
    }
    CHECK(checked == opt.fields.results().size());
  }
}

TEST_CASE("fake backend: --fields task plans one stage and loads no chain scanner") {
  Fixture fx = load("6.1.0-50-amd64-debian.json.gz");
  FixtureEnvironment env(fx.dump.trials, fx.dump.trials, fx.dump.options);
  auto opt = options(env, "task", true);
  Calibration cal = calibrate(opt);
  CHECK(cal.stages.size() == 1);
  CHECK(as_sets(cal.stages) == expected_stages(opt.fields));
  CHECK(env.chain_scanner_loads == 0);
  for (const auto &f : cal.result.fields) {
    CAPTURE(f.name);
    CHECK(f.status == FieldStatus::calibrated);
    CHECK(f.offset == std::optional<uint32_t>(fx.btf.at(f.name).get<uint32_t>()));
  }
}

// A field's value moved to a neighbouring word in the captured trials only:
// the solver finds it there (checked with validation off, so the test shows
// that the solver really was fooled), and the read-back, which reads the
// kernel's own bytes through that offset, must turn it into unresolved,
// never a wrong offset.
TEST_CASE("fake backend: a field whose captured value was moved is unresolved, not wrong") {
  for (const char *name : {"6.1.0-50-amd64-debian.json.gz", "5.10.0-32-arm64-debian.json.gz",
                           "6.12.117+deb13-rt-amd64-debian.json.gz"}) {
    CAPTURE(name);
    Fixture fx = load(name);
    for (const char *moved : {"task_struct.loginuid", "task_struct.exit_code"}) {
      CAPTURE(moved);
      uint32_t truth = fx.btf.at(moved).get<uint32_t>();
      bool fooled = false;
      for (int delta = -32; delta <= 32 && !fooled; delta += 4) {
        if (delta == 0 || int64_t(truth) + delta < 0)
          continue;
        uint32_t decoy = static_cast<uint32_t>(int64_t(truth) + delta);
        auto altered = fx.dump.trials;
        swap_bytes(altered, truth, decoy, 4);
        {
          FixtureEnvironment env(altered, fx.dump.trials, fx.dump.options);
          Calibration cal = calibrate(options(env, kEngineFamilies, false));
          const auto &f = field(cal, moved);
          if (f.status != FieldStatus::calibrated || f.offset != decoy)
            continue; // the solver was not fooled by this decoy: try another
        }
        fooled = true;
        CAPTURE(decoy);
        FixtureEnvironment env(altered, fx.dump.trials, fx.dump.options);
        Calibration cal = calibrate(options(env, kEngineFamilies, true));
        const auto &f = field(cal, moved);
        INFO(f.reason << " " << f.validation_detail);
        CHECK(f.status == FieldStatus::unresolved);
        CHECK(f.validation == Validation::failed);
        CHECK(!f.offset);
        // Nothing is reported at a wrong offset.
        for (const auto &g : cal.result.fields)
          if (g.status == FieldStatus::calibrated && fx.btf.contains(g.name)) {
            CAPTURE(g.name);
            CHECK(g.offset == std::optional<uint32_t>(fx.btf.at(g.name).get<uint32_t>()));
          }
      }
      CHECK_MESSAGE(fooled, "no neighbouring word fooled the solver: the test tests nothing");
    }
  }
}

namespace {

struct NetFixture {
  std::vector<net::SockTrial> trials;
  std::string release;
  nlohmann::json btf;               // the net fields' BTF offsets
  std::set<std::string> calibrated; // what the guest calibrated
};

NetFixture load_net(const std::string &release) {
  fs::path p = fs::path(OFFSETPROBE_FIXTURE_DIR) / "net" / (release + ".json.gz");
  auto text = read_gz(p);
  REQUIRE_MESSAGE(text, "cannot read " << p);
  auto j = nlohmann::json::parse(*text);
  std::string error;
  auto dump = net::trials_from_json(j.at("net_trials"), error);
  REQUIRE_MESSAGE(dump, error);
  NetFixture out{dump->trials, j.at("kernel").at("release").get<std::string>(), j.at("btf"), {}};
  for (const auto &n : j.at("calibrated"))
    out.calibrated.insert(n.get<std::string>());
  return out;
}

// The kernels with both a task fixture and a net fixture (same build).
const char *kNetKernels[] = {"5.10.0-32-amd64", "5.10.0-32-rt-amd64", "6.1.0-50-amd64",
                             "6.12.117+deb13-rt-amd64", "6.12.95+deb12-amd64"};

const char *kWithNet = "task,cred,ns,mm,audit,net";

// The environment of kernel `release`: its task fixture's trials, and its
// net fixture's trials following net.ns.inum at that kernel's offset.
struct NetKernel {
  Fixture fx;
  NetFixture net;
  std::unique_ptr<FixtureEnvironment> env;
  explicit NetKernel(const std::string &release)
      : fx(load(release + "-debian.json.gz")), net(load_net(release)) {
    env = std::make_unique<FixtureEnvironment>(fx.dump.trials, fx.dump.trials, fx.dump.options);
    env->record_net(net.trials, net.release, fx.btf.at("net.ns.inum").get<uint32_t>());
  }
};

bool is_net(const std::string &name) {
  const Family *fam = family_of(name);
  return fam && fam->experiment == "net";
}

} // namespace

TEST_CASE("fake backend: the net family's recorded trials through calibrate() and its read-back") {
  for (std::string release : kNetKernels) {
    CAPTURE(release);
    NetKernel k(release);
    auto opt = options(*k.env, kWithNet, true);
    Calibration cal = calibrate(opt);
    CHECK(k.env->net_runs == 1);
    size_t net_fields = 0, passed = 0;
    for (const auto &f : cal.result.fields) {
      if (!is_net(f.name))
        continue;
      CAPTURE(f.name);
      INFO(to_string(f.status) << ": " << f.reason << " " << f.validation_detail);
      net_fields++;
      if (k.net.calibrated.count(f.name)) {
        CHECK(f.status == FieldStatus::calibrated);
        CHECK(f.offset == std::optional<uint32_t>(k.net.btf.at(f.name).get<uint32_t>()));
        CHECK(f.validation == Validation::passed);
        passed += f.validation == Validation::passed;
      } else {
        // What the guest did not calibrate (a bit-field before 5.6) is not
        // calibrated offline either.
        CHECK(f.status != FieldStatus::calibrated);
      }
    }
    CHECK(net_fields == families::net().fields.size());
    CHECK(passed == k.net.calibrated.size());
  }
}

// The bundle's path: offsets given (the calibration's, equal to BTF's), each
// family's read-back run on the recordings; one net offset moved by 4 bytes
// fails its read-back and is reported unresolved, never at the moved offset.
TEST_CASE("fake backend: a bundle's net offsets are read back; one moved by 4 bytes fails") {
  for (std::string release : {"6.1.0-50-amd64", "5.10.0-32-amd64"}) {
    CAPTURE(release);
    NetKernel k(release);
    auto opt = options(*k.env, kWithNet, true);
    Calibration cal = calibrate(opt);
    for (std::string moved : {"tcp_sock.srtt_us", "sock_common.skc_dport", "socket.state"}) {
      CAPTURE(moved);
      auto given = cal.result.fields;
      for (auto &f : given)
        if (f.name == moved) {
          REQUIRE(f.offset);
          f.offset = *f.offset + 4;
        }
      auto got = validate_offsets(opt, given);
      for (const auto &f : got) {
        if (!is_net(f.name) || !k.net.calibrated.count(f.name))
          continue;
        CAPTURE(f.name);
        INFO(to_string(f.status) << ": " << f.reason << " " << f.validation_detail);
        if (f.name == moved) {
          CHECK(f.status == FieldStatus::unresolved);
          CHECK_FALSE(f.offset);
        } else if (f.name == "socket.file") {
          // Its round trip reads file.private_data, a files-family field
          // that this selection does not give (docs/net-family.md).
          CHECK(f.validation == Validation::failed);
          CHECK(f.validation_detail.find("file.private_data") != std::string::npos);
        } else {
          CHECK(f.validation == Validation::passed);
        }
      }
    }
  }
}

TEST_CASE("fake backend: the files family's recorded walks through calibrate() and a bundle") {
  Fixture fx = load("6.18.44-fc-v1045-local.json.gz");
  fs::path dir = fs::path(OFFSETPROBE_FIXTURE_DIR) / "files";
  std::ifstream truth_in(dir / "6.18.44-fc-v1045.btf.json");
  REQUIRE(truth_in);
  auto truth = nlohmann::json::parse(truth_in);
  FixtureEnvironment env(fx.dump.trials, fx.dump.trials, fx.dump.options);
  env.record_files(files::read_capture((dir / "6.18.44-fc-v1045.json.gz").string()));
  auto opt = options(env, "task,cred,ns,mm,audit,files", true);
  Calibration cal = calibrate(opt);
  CHECK(env.files_runs == 1);
  size_t files_fields = 0;
  for (const auto &f : cal.result.fields) {
    const Family *fam = family_of(f.name);
    if (!fam || fam->experiment != "files")
      continue;
    CAPTURE(f.name);
    INFO(to_string(f.status) << ": " << f.reason << " " << f.validation_detail);
    files_fields++;
    CHECK(f.status == FieldStatus::calibrated);
    CHECK(f.validation == Validation::passed);
    REQUIRE(truth.contains(f.name));
    CHECK(f.offset == std::optional<uint32_t>(truth.at(f.name).get<uint32_t>()));
  }
  CHECK(files_fields == families::files_field_names().size());

  // The bundle's path: every offset passes; inode.i_ino moved by 8 bytes
  // fails and is not reported.
  auto again = validate_offsets(opt, cal.result.fields);
  CHECK(env.files_readbacks == 1);
  for (const auto &f : again)
    if (family_of(f.name) && family_of(f.name)->experiment == "files") {
      CAPTURE(f.name);
      CHECK(f.validation == Validation::passed);
    }
  auto given = cal.result.fields;
  for (auto &f : given)
    if (f.name == "inode.i_ino")
      f.offset = *f.offset + 8;
  bool seen = false;
  for (const auto &f : validate_offsets(opt, given))
    if (f.name == "inode.i_ino") {
      seen = true;
      INFO(f.reason << " " << f.validation_detail);
      CHECK(f.status != FieldStatus::calibrated);
      CHECK_FALSE(f.offset);
    }
  CHECK(seen);
}

// calibrate() starts the net experiment once net.ns.inum is solved, beside
// its validation: when that read-back then fails, skc_net (found through the
// solved offset) must fall with it, and nothing else of the net family.
TEST_CASE("fake backend: skc_net falls when net.ns.inum fails the read-back that ran beside it") {
  for (std::string release : {"6.1.0-50-amd64", "5.10.0-32-amd64"}) {
    CAPTURE(release);
    NetKernel k(release);
    // The validation subject's net namespace is another one than the one
    // its memory shows: net.ns.inum reads back a different inode.
    auto memory = k.fx.dump.trials;
    int moved = 0;
    for (auto &t : memory)
      for (Subject *s : {&t.leader, &t.thread, &t.grandchild, &t.exiter, &t.creds, &t.unshared})
        if (auto it = s->ns_inum.find("net"); it != s->ns_inum.end())
          it->second += 1, moved++;
    REQUIRE(moved > 0);
    FixtureEnvironment env(k.fx.dump.trials, memory, k.fx.dump.options);
    env.record_net(k.net.trials, k.net.release, k.fx.btf.at("net.ns.inum").get<uint32_t>());
    Calibration cal = calibrate(options(env, kWithNet, true));
    const auto &inum = field(cal, "net.ns.inum");
    INFO(inum.reason << " " << inum.validation_detail);
    CHECK(inum.validation == Validation::failed);
    CHECK_FALSE(inum.offset);
    const auto &skc_net = field(cal, "sock_common.skc_net");
    INFO(skc_net.reason);
    CHECK(skc_net.status == FieldStatus::unresolved);
    CHECK_FALSE(skc_net.offset);
    CHECK(skc_net.validation == Validation::failed);
    CHECK(skc_net.reason.find("net.ns.inum") != std::string::npos);
    // Read without net.ns.inum: unaffected.
    const auto &daddr = field(cal, "sock_common.skc_daddr");
    CHECK(daddr.status == FieldStatus::calibrated);
    CHECK(daddr.validation == Validation::passed);
  }
}

} // namespace offsetprobe::test
