// SPDX-License-Identifier: GPL-2.0-only
// tcp_sock.total_retrans on synthetic captures of the sockets
// calibration/experiment/net/retrans_subject.cpp and sock_subject.cpp make:
// the accepted sockets at rest (0), a client whose tail loss probe was its
// one retransmission (1), and one with a probe then an RTO (2), each with 2
// or 3 segments in flight. The counters that move with them in a kernel are
// planted as this host's kernel (6.18) left them after such episodes:
// tcp_sock.lost (0 after a probe, every segment in flight after an RTO),
// total_rto and total_rto_recoveries (one u32 word), undo_retrans (-1 after
// a probe, 2 after probe and RTO), delivered, data_segs_out, and a word of
// sock_common (the refcount) that held 1 and 2 in the two episodes. Each
// is apart from total_retrans only in some captures: the field is found
// from all of them, and refused (ambiguous) when the captures that separate
// it are missing.
#include "calibration/solve/net/sock_solver.h"

#include "calibration/model/catalogue.h"

#include "net_layout.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>

namespace offsetprobe::test {

using namespace offsetprobe::net;

namespace {

using namespace net_layout;
const char *const kField = "tcp_sock.total_retrans";

// 6.18's offsets (this host's BTF).
Layout layout_618() {
  return {{kField, 2200},      {"lost", 1488},          {"total_rto", 2208}, {"undo_retrans", 2184},
          {"delivered", 1692}, {"data_segs_out", 1540}, {"refcnt", 128}};
}

// Every decoy before the field, the field last.
Layout layout_shuffled() {
  return {{kField, 3900},    {"lost", 40},          {"total_rto", 44}, {"undo_retrans", 48},
          {"delivered", 52}, {"data_segs_out", 56}, {"refcnt", 60}};
}

enum class Kind { rest, probe, rto };

struct Maker {
  std::mt19937_64 rng{1414};
  uint32_t r32() { return static_cast<uint32_t>(rng()); }

  // One socket at its close. `segs`: segments in flight in an episode.
  SockCapture capture(const Layout &lay, Kind kind, uint32_t segs) {
    std::map<std::string, uint32_t> v;
    if (kind == Kind::rest) {
      v = {{kField, 0},
           {"lost", 0},
           {"total_rto", 0},
           {"undo_retrans", 0},
           {"delivered", 20 + r32() % 200},
           {"data_segs_out", 20 + r32() % 200},
           {"refcnt", 2 + r32() % 2}};
    } else if (kind == Kind::probe) {
      v = {{kField, 1},
           {"lost", 0},
           {"total_rto", 0},
           {"undo_retrans", 0xffffffffu},
           {"delivered", segs + 1},
           {"data_segs_out", segs + 1},
           {"refcnt", 1}};
    } else {
      v = {{kField, 2},
           {"lost", segs},
           {"total_rto", 1 | 1u << 16},
           {"undo_retrans", 2},
           {"delivered", segs == 2 ? 2 : segs + 1},
           {"data_segs_out", segs + 2},
           {"refcnt", 2}};
    }
    auto c = planted(rng, lay, v,
                     kind == Kind::rest    ? "accepted close"
                     : kind == Kind::probe ? "probe"
                                           : "rto");
    c.known[kField] = le_bytes(v[kField], 4);
    return c;
  }

  // A trial as the subject makes it: two accepted sockets and the acked
  // pair's client at rest, then the two episodes.
  SockTrial trial(const Layout &lay, std::vector<Kind> kinds = {Kind::rest, Kind::rest, Kind::rest,
                                                                Kind::probe, Kind::rto}) {
    SockTrial t;
    for (auto k : kinds)
      t.captures.push_back(capture(lay, k, 2 + r32() % 2));
    return t;
  }
};

FieldResult solve(const std::vector<SockTrial> &trials) {
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    for (const auto &f : fam.fields)
      if (f.name() == kField)
        out.push_back(unsolved(f));
  REQUIRE(out.size() == 1);
  solve_sock_fields(trials, 3, out);
  return out[0];
}

} // namespace

TEST_CASE("net retrans: total_retrans exactly, in 6.18's and in a shuffled layout") {
  for (const auto &lay : {layout_618(), layout_shuffled()}) {
    Maker m;
    auto f = solve({m.trial(lay), m.trial(lay), m.trial(lay)});
    INFO(f.reason);
    REQUIRE(f.status == FieldStatus::calibrated);
    CHECK(*f.offset == lay.at(kField));
    CHECK(f.trials == 3);
  }
}

TEST_CASE("net retrans: each kind of socket is what separates the field from its decoys") {
  for (const auto &lay : {layout_618(), layout_shuffled()}) {
    Maker m;
    // Without the probe-only client, undo_retrans is 2 wherever
    // total_retrans is, and lost too where 2 segments were in flight: a
    // field equal to the target in every trial. Refused.
    auto two_segs = [&](std::vector<Kind> kinds) {
      SockTrial t;
      for (auto k : kinds)
        t.captures.push_back(m.capture(lay, k, 2));
      return t;
    };
    std::vector<Kind> no_probe = {Kind::rest, Kind::rest, Kind::rto};
    auto f = solve({two_segs(no_probe), two_segs(no_probe), two_segs(no_probe)});
    CHECK(f.status == FieldStatus::ambiguous);
    CHECK_FALSE(f.offset);
    CHECK(sorted(f.candidates) == at(lay, {kField, "lost", "undo_retrans"}));
    // Without the sockets at rest, the refcount word held 1 and 2 as the
    // two episodes' counts did.
    std::vector<Kind> no_rest = {Kind::probe, Kind::rto};
    f = solve({m.trial(lay, no_rest), m.trial(lay, no_rest), m.trial(lay, no_rest)});
    CHECK(f.status == FieldStatus::ambiguous);
    CHECK(sorted(f.candidates) == at(lay, {kField, "refcnt"}));
    // Without the episode with an RTO: 0 and 1 only, and refcnt still apart
    // (2-3 at rest); lost, total_rto and undo_retrans are not 1 after a
    // probe, so the field is found from the probe alone.
    std::vector<Kind> no_rto = {Kind::rest, Kind::rest, Kind::probe};
    f = solve({m.trial(lay, no_rto), m.trial(lay, no_rto), m.trial(lay, no_rto)});
    CHECK(f.status == FieldStatus::calibrated);
    CHECK(*f.offset == lay.at(kField));
  }
}

TEST_CASE("net retrans: a counter equal to the count in one trial only, or in all but one") {
  auto lay = layout_618();
  Maker m;
  const uint32_t decoy = 3000;
  auto copy_into = [&](SockTrial &t) {
    for (auto &c : t.captures)
      std::memcpy(c.data.data() + decoy, c.known[kField].data(), 4);
  };
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  copy_into(trials[1]);
  auto f = solve(trials);
  REQUIRE(f.status == FieldStatus::calibrated);
  CHECK(*f.offset == lay.at(kField));
  // In the first two trials, not in the third: the third rules it out.
  copy_into(trials[0]);
  f = solve(trials);
  REQUIRE(f.status == FieldStatus::calibrated);
  CHECK(*f.offset == lay.at(kField));
  // In every capture of every trial: two candidates, no offset.
  copy_into(trials[2]);
  f = solve(trials);
  CHECK(f.status == FieldStatus::ambiguous);
  CHECK(f.candidates == std::vector<uint32_t>{lay.at(kField), decoy});
}

TEST_CASE("net retrans: no episode (route or filter refused), or too few trials, is no offset") {
  auto lay = layout_618();
  Maker m;
  // The sockets at rest only: the value 0 in every capture.
  std::vector<Kind> rest = {Kind::rest, Kind::rest, Kind::rest};
  auto f = solve({m.trial(lay, rest), m.trial(lay, rest), m.trial(lay, rest)});
  CHECK(f.status != FieldStatus::calibrated);
  CHECK_FALSE(f.offset);
  f = solve({m.trial(lay), m.trial(lay)});
  CHECK(f.status == FieldStatus::unresolved);
  CHECK(f.reason.find("known in 2 trial(s)") != std::string::npos);
}

TEST_CASE("net retrans read-back: a count read back wrong is withdrawn") {
  auto lay = layout_618();
  Maker m;
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  std::vector<FieldResult> fs = {solve(trials)};
  REQUIRE(fs[0].status == FieldStatus::calibrated);
  auto check = m.trial(lay);
  std::vector<SockEvent> events;
  for (const auto &c : check.captures) {
    SockEvent e;
    e.vals.assign(1, {0, 0});
    std::memcpy(&e.vals[0][0], c.data.data() + lay.at(kField), 4);
    e.vals_ok = 1;
    events.push_back(e);
  }
  auto good = fs;
  check_sock_readback(check, events, {{kField, 0}}, good);
  CHECK(good[0].validation == Validation::passed);
  CHECK(good[0].status == FieldStatus::calibrated);
  // The RTO client's count read as the probe's.
  events.back().vals[0][0] = 1;
  check_sock_readback(check, events, {{kField, 0}}, fs);
  CHECK(fs[0].status == FieldStatus::unresolved);
  CHECK_FALSE(fs[0].offset);
  CHECK(fs[0].reason.find("read-back failed") != std::string::npos);
}

} // namespace offsetprobe::test
