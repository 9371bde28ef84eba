// SPDX-License-Identifier: GPL-2.0-only
// Offline replay of the net family: every tests/fixtures/net/*.json.gz holds
// the raw socket-scanner trials of one calibration on a real kernel (a
// matrix guest, OFFSETPROBE_DUMP_NET_TRIALS) and that kernel's BTF offsets
// of the family's fields (scripts/matrix/fixture.sh). The solvers, run here
// without root or BPF, must put every field they calibrate at its BTF
// offset, and calibrate every field the fixture's calibration did.
// $OFFSETPROBE_NET_FIXTURES overrides the directory.
#include "calibration/families/families.h"
#include "calibration/solve/net/sock_trial_json.h"
#include "calibration/solve/net/socket_solver.h"

#include "gz_fixtures.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::test {

namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  if (const char *env = std::getenv("OFFSETPROBE_NET_FIXTURES"); env && *env)
    return env;
  return OFFSETPROBE_NET_FIXTURE_DIR;
}

std::vector<FieldResult> unsolved_net() {
  std::vector<FieldResult> out;
  for (const auto &d : families::net().fields) {
    FieldResult r;
    r.name = d.name();
    r.struct_name = d.struct_name;
    r.member = d.member;
    r.size = d.size;
    r.required = d.required;
    r.status = FieldStatus::unresolved;
    out.push_back(r);
  }
  return out;
}

} // namespace

TEST_CASE("net fixtures: the solvers find the family's fields at their BTF offsets") {
  auto files = gz_fixtures(fixture_dir());
  INFO("fixture directory " << fixture_dir());
  REQUIRE_MESSAGE(files.size() >= 3, "fewer than 3 net fixtures");
  for (const auto &path : files) {
    std::string name = path.filename().string();
    CAPTURE(name);
    auto text = read_gz(path);
    REQUIRE_MESSAGE(text, "cannot decompress");
    auto j = nlohmann::json::parse(*text, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), "not JSON");
    REQUIRE(j.value("format", "") == "offsetprobe-net-fixture/v1");
    std::string error;
    auto dump = net::trials_from_json(j.at("net_trials"), error);
    REQUIRE_MESSAGE(dump, "net_trials: " << error);
    CHECK(dump->trials.size() >= dump->min_trials);
    CHECK(dump->min_trials >= 3);
    const auto &btf = j.at("btf");
    const auto &calibrated = j.at("calibrated"); // names the guest calibrated
    auto fields = unsolved_net();
    net::solve_sock_fields(dump->trials, dump->min_trials, fields);
    net::solve_socket_fields(dump->trials, dump->min_trials, fields);
    size_t found = 0;
    for (const auto &f : fields) {
      CAPTURE(f.name);
      INFO(std::string(to_string(f.status)) << ": " << f.reason);
      if (f.status == FieldStatus::calibrated) {
        REQUIRE_MESSAGE(btf.contains(f.name), "calibrated, but the fixture has no BTF offset");
        CHECK(f.offset == std::optional<uint32_t>(btf.at(f.name).get<uint32_t>()));
        found++;
      }
      // What the guest calibrated (and read back) must come out again here:
      // the replay is the same solver on the same bytes.
      if (std::find(calibrated.begin(), calibrated.end(), f.name) != calibrated.end())
        CHECK(f.status == FieldStatus::calibrated);
    }
    MESSAGE(name << ": " << found << " net fields at their BTF offsets");
    CHECK(found >= calibrated.size());
  }
}

TEST_CASE("net fixtures: a trial dump round-trips, and a damaged one is refused whole") {
  net::SockTrial t;
  t.netns_inum = 4026532114u;
  net::SockCapture c;
  c.what = "v4 client connect";
  c.sk = 0xff2111f6826dd780ull; // above 2^53: must survive as text
  c.oldstate = 7;
  c.newstate = 2;
  c.data.assign(net::kSkBytes, 0);
  c.data[48] = 0xab;
  c.readable = 0x0000'0f00'0000'00ffull; // grains: bytes 0-511 and 2560-2815
  c.deep.assign(net::kBack * (net::kPeek / 8) * net::kDeep, 0);
  c.deep_ok = {0x0000'0000'0000'0f00ull, 0}; // word 1's first 256 B
  c.inum[6] = 4026532114u;
  c.words_ok = 1ull << 6;
  c.known["sock_common.skc_num"] = {0x34, 0x12};
  c.known_shr["tcp_sock.srtt_us"] = {1234, 3};
  t.captures.push_back(c);
  auto j = net::trials_to_json({t, t, t}, 3);
  std::string error;
  auto back = net::trials_from_json(nlohmann::json::parse(j.dump()), error);
  REQUIRE_MESSAGE(back, error);
  REQUIRE(back->trials.size() == 3);
  const auto &b = back->trials[1].captures.at(0);
  CHECK(b.sk == c.sk);
  CHECK(b.data == c.data);
  CHECK(b.readable == c.readable);
  CHECK(b.deep_ok == c.deep_ok);
  CHECK(b.data_read(2560, 256));
  CHECK_FALSE(b.data_read(2560, 257));
  CHECK(b.deep_read(0, 1, 192, 64));
  CHECK_FALSE(b.deep_read(0, 1, 200, 64));
  CHECK_FALSE(b.deep_read(0, 2, 0, 8));
  CHECK(b.inum == c.inum);
  CHECK(b.known == c.known);
  CHECK(b.known_shr == c.known_shr);
  CHECK(back->trials[1].netns_inum == t.netns_inum);
  // A dump from before the masks counted 64 B grains (no "grain"): a bit of
  // readable was a 256 B chunk, a bit of deep_ok a whole 512 B copy.
  auto chunks = j;
  for (auto &tr : chunks["trials"]) {
    auto &cap = tr["captures"][0];
    cap.erase("grain");
    cap["readable"] = "0x0000000000000401";                        // chunks 0 and 10
    cap["deep_ok"] = {"0x0000000000000002", "0x0000000000000000"}; // word 1
  }
  auto old = net::trials_from_json(chunks, error);
  REQUIRE_MESSAGE(old, error);
  const auto &o = old->trials[0].captures.at(0);
  CHECK(o.readable == 0x0000'0f00'0000'000full);
  CHECK(o.deep_ok[0] == 0x0000'0000'0000'ff00ull);
  CHECK(o.deep_ok[1] == 0);
  CHECK(o.data_read(0, 256));
  CHECK_FALSE(o.data_read(0, 257));
  CHECK(o.deep_read(0, 1, 0, net::kDeep));
  auto grain = j;
  grain["trials"][0]["captures"][0]["grain"] = 256;
  CHECK_FALSE(net::trials_from_json(grain, error));
  CHECK(error.find("grain") != std::string::npos);
  auto cut = j;
  cut["trials"][2]["captures"][0]["data"] = "abc";
  CHECK_FALSE(net::trials_from_json(cut, error));
  CHECK(error.find("data") != std::string::npos);
  auto other = j;
  other["format"] = "offsetprobe-net-trials/v0";
  CHECK_FALSE(net::trials_from_json(other, error));
}

} // namespace offsetprobe::test
