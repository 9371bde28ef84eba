// SPDX-License-Identifier: GPL-2.0-only
// The net experiment's extra trials (calibration/experiment/net/
// net_experiment.cpp): a field whose known value came out the same in every
// capture is unresolved (kNeverChanged), and up to two more trials give it
// other values. Real captures of a matrix guest (tests/fixtures/net/), with
// tcp_sock.mdev_us's value set by the test, replayed through calibrate_net
// by a source that counts its trials. No root, no BPF.
#include "calibration/experiment/net/net_experiment.h"
#include "calibration/model/calibrate_options.h"
#include "calibration/model/catalogue.h"
#include "calibration/solve/net/sock_trial_json.h"

#include "gz_fixtures.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace offsetprobe::test {

namespace {

constexpr const char *kMdev = "tcp_sock.mdev_us";

struct Fixture {
  std::vector<net::SockTrial> trials;
  uint32_t mdev = 0; // BTF offset
};

Fixture load(const std::string &name) {
  auto text = read_gz(std::string(OFFSETPROBE_FIXTURE_DIR) + "/net/" + name);
  REQUIRE_MESSAGE(text, "cannot read net fixture " << name);
  auto j = nlohmann::json::parse(*text);
  std::string error;
  auto dump = net::trials_from_json(j.at("net_trials"), error);
  REQUIRE_MESSAGE(dump, error);
  return {dump->trials, j.at("btf").at(kMdev).get<uint32_t>()};
}

// `t` with tcp_sock.mdev_us holding `v` >> 2 in every capture that knows it,
// as TCP_INFO's tcpi_rttvar would report it.
net::SockTrial with_mdev(net::SockTrial t, uint32_t off, uint32_t v) {
  for (auto &c : t.captures)
    if (auto it = c.known_shr.find(kMdev); it != c.known_shr.end()) {
      it->second.first = v;
      uint32_t raw = v << 2 | 1;
      REQUIRE(off + 4 <= c.data.size());
      std::memcpy(c.data.data() + off, &raw, 4);
    }
  return t;
}

// Serves the given trials in order and counts them.
class Source : public net::SockTrials {
public:
  explicit Source(std::vector<net::SockTrial> t) : trials_(std::move(t)) {}
  void set_plan(const std::vector<net::SockStep> &) override {}
  net::SockTrialRun run() override {
    net::SockTrialRun r;
    REQUIRE(runs < trials_.size());
    r.trial = trials_[runs++];
    return r;
  }
  std::string release() const override { return "6.1.0-50-amd64"; }
  size_t runs = 0;

private:
  std::vector<net::SockTrial> trials_;
};

const FieldResult &mdev_of(const std::vector<FieldResult> &fields) {
  for (const auto &f : fields)
    if (f.name == kMdev)
      return f;
  FAIL("no " << kMdev);
  throw;
}

std::vector<FieldResult> calibrate(Source &src) {
  CalibrateOptions opt;
  std::string why;
  auto sel = FieldSelection::parse(kMdev, why);
  REQUIRE_MESSAGE(sel, why);
  opt.fields = *sel;
  opt.trials = 3;
  opt.validate = false;
  std::vector<FieldResult> fields;
  net::calibrate_net(opt, src, fields);
  return fields;
}

} // namespace

TEST_CASE("net extra trials: a value the same in every trial gets more trials, then an offset") {
  auto fx = load("6.1.0-50-amd64.json.gz");
  REQUIRE(fx.trials.size() >= 3);
  auto t = [&](size_t i, uint32_t v) { return with_mdev(fx.trials[i % 3], fx.mdev, v); };
  // Varied from the start: three trials, no more.
  Source varied({t(0, 11), t(1, 12), t(2, 13), t(0, 14), t(1, 15)});
  auto f = mdev_of(calibrate(varied));
  CHECK(varied.runs == 3);
  CHECK(f.status == FieldStatus::calibrated);
  CHECK(f.offset == std::optional<uint32_t>(fx.mdev));
  // The same in the first three: one more trial, with another value.
  Source same3({t(0, 7), t(1, 7), t(2, 7), t(0, 9), t(1, 15)});
  f = mdev_of(calibrate(same3));
  CHECK(same3.runs == 4);
  CHECK(f.status == FieldStatus::calibrated);
  CHECK(f.offset == std::optional<uint32_t>(fx.mdev));
  // The same in all five: two more trials at most, and no offset.
  Source same5({t(0, 7), t(1, 7), t(2, 7), t(0, 7), t(1, 7)});
  f = mdev_of(calibrate(same5));
  CHECK(same5.runs == 5);
  CHECK(f.status == FieldStatus::unresolved);
  CHECK_FALSE(f.offset);
  CHECK(f.reason == net::kNeverChanged);
}

} // namespace offsetprobe::test
