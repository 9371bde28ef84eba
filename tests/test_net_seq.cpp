// SPDX-License-Identifier: GPL-2.0-only
// tcp_sock's sequence numbers (snd_una, snd_nxt, rcv_nxt) on synthetic
// captures of the three repair sockets calibration/experiment/net/seq_subject.cpp
// makes, with the words that really hold the same values in a kernel
// (write_seq, pushed_seq, snd_sml, snd_up, copied_seq, rcv_wup,
// rcvq_space.seq) planted as a kernel would set them: each field is found
// only because some socket moves it away from each of them. A layout with
// the decoys before the fields (no declaration-order rule may help), and
// the sockets left out one at a time: the field they separate then stays
// ambiguous, never guessed.
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

// 6.18's offsets (this host's BTF).
Layout layout_618() {
  return {{"tcp_sock.snd_una", 1672}, {"tcp_sock.snd_nxt", 1668}, {"tcp_sock.rcv_nxt", 1664},
          {"write_seq", 1576},        {"pushed_seq", 1580},       {"snd_sml", 1552},
          {"snd_up", 1688},           {"copied_seq", 1464},       {"rcv_wup", 1768},
          {"rcvq_space.seq", 1852},   {"cwnd_usage_seq", 1776}};
}

// Every decoy before the field it imitates, and the fields in another order.
Layout layout_shuffled() {
  return {{"tcp_sock.snd_una", 3000},
          {"tcp_sock.snd_nxt", 2996},
          {"tcp_sock.rcv_nxt", 3100},
          {"write_seq", 100},
          {"pushed_seq", 104},
          {"snd_sml", 8},
          {"snd_up", 12},
          {"copied_seq", 200},
          {"rcv_wup", 204},
          {"rcvq_space.seq", 16},
          {"cwnd_usage_seq", 20}};
}

const char *kFields[] = {"tcp_sock.snd_una", "tcp_sock.snd_nxt", "tcp_sock.rcv_nxt"};

enum class Kind { full, small, unsent };

struct Maker {
  std::mt19937_64 rng{2024};
  uint32_t r32() { return static_cast<uint32_t>(rng()); }

  // One repair socket at its disconnect, as the kernel leaves it:
  // tcp_connect_init puts snd_una, snd_nxt, snd_sml, snd_up at write_seq
  // and rcv_wup, copied_seq at rcv_nxt; tcp_init_buffer_space copies
  // copied_seq to rcvq_space.seq; queued data moves write_seq, pushed_seq
  // and snd_nxt, snd_sml only for a short segment, snd_up only for urgent
  // data; received data moves rcv_nxt only. cwnd_usage_seq (6.18) was
  // seen at snd_nxt after queued data on this host, 0 otherwise.
  SockCapture capture(const Layout &lay, Kind kind, bool inject = true) {
    uint32_t s = r32(), r = r32(), mss = 600 + r32() % 800;
    uint32_t n = kind == Kind::full    ? mss * (1 + r32() % 3)
                 : kind == Kind::small ? 1 + r32() % (mss - 1)
                                       : 0;
    uint32_t k = kind == Kind::unsent ? 1 + r32() % (mss - 1) : 0;
    uint32_t m = kind != Kind::unsent && inject ? 1 + r32() % 3000 : 0;
    std::map<std::string, uint32_t> v = {
        {"tcp_sock.snd_una", s},
        {"tcp_sock.snd_nxt", s + n},
        {"tcp_sock.rcv_nxt", r + m},
        {"write_seq", s + n + k},
        {"pushed_seq", s + n + k},
        {"snd_sml", kind == Kind::small ? s + n : s},
        {"snd_up", kind == Kind::small ? s + n : s},
        {"copied_seq", r},
        {"rcv_wup", r},
        {"rcvq_space.seq", r},
        {"cwnd_usage_seq", n ? s + n : 0},
    };
    auto c = planted(rng, lay, v,
                     kind == Kind::full    ? "seq full"
                     : kind == Kind::small ? "seq small"
                                           : "seq unsent");
    for (auto f : kFields)
      c.known[f] = le_bytes(v[f], 4);
    return c;
  }

  SockTrial trial(const Layout &lay,
                  std::vector<Kind> kinds = {Kind::full, Kind::small, Kind::unsent},
                  bool inject = true) {
    SockTrial t;
    for (auto k : kinds)
      t.captures.push_back(capture(lay, k, inject));
    return t;
  }
};

std::vector<FieldResult> seq_fields() {
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    for (const auto &f : fam.fields)
      if (std::find(std::begin(kFields), std::end(kFields), f.name()) != std::end(kFields))
        out.push_back(unsolved(f));
  REQUIRE(out.size() == 3);
  return out;
}

FieldResult &get(std::vector<FieldResult> &fs, const std::string &n) {
  for (auto &f : fs)
    if (f.name == n)
      return f;
  throw std::logic_error(n);
}

std::vector<FieldResult> solve(const std::vector<SockTrial> &trials) {
  auto fs = seq_fields();
  solve_sock_fields(trials, 3, fs);
  return fs;
}

} // namespace

TEST_CASE("net seq: snd_una, snd_nxt, rcv_nxt exactly, in 6.18's and in a shuffled layout") {
  for (const auto &lay : {layout_618(), layout_shuffled()}) {
    Maker m;
    auto fs = solve({m.trial(lay), m.trial(lay), m.trial(lay)});
    for (auto &f : fs) {
      INFO(f.name << ": " << f.reason);
      REQUIRE(f.status == FieldStatus::calibrated);
      CHECK(*f.offset == lay.at(f.name));
    }
  }
}

TEST_CASE("net seq: each socket is what separates a field from its decoys") {
  for (const auto &lay : {layout_618(), layout_shuffled()}) {
    Maker m;
    // Without the unsent socket, nothing moves write_seq or pushed_seq away
    // from snd_nxt.
    std::vector<Kind> no_unsent = {Kind::full, Kind::small};
    auto fs = solve({m.trial(lay, no_unsent), m.trial(lay, no_unsent), m.trial(lay, no_unsent)});
    auto &nxt = get(fs, "tcp_sock.snd_nxt");
    CHECK(nxt.status == FieldStatus::ambiguous);
    CHECK(sorted(nxt.candidates) ==
          at(lay, {"tcp_sock.snd_nxt", "write_seq", "pushed_seq", "cwnd_usage_seq"}));
    CHECK(get(fs, "tcp_sock.snd_una").status == FieldStatus::calibrated);
    // Without the small urgent one, snd_sml and snd_up stay at snd_una.
    std::vector<Kind> no_small = {Kind::full, Kind::unsent};
    auto fs2 = solve({m.trial(lay, no_small), m.trial(lay, no_small), m.trial(lay, no_small)});
    auto &una = get(fs2, "tcp_sock.snd_una");
    CHECK(una.status == FieldStatus::ambiguous);
    CHECK(sorted(una.candidates) == at(lay, {"tcp_sock.snd_una", "snd_sml", "snd_up"}));
    CHECK(get(fs2, "tcp_sock.snd_nxt").status == FieldStatus::calibrated);
    // Without the whole-segment one, a short urgent segment puts snd_sml
    // and snd_up at snd_nxt.
    std::vector<Kind> no_full = {Kind::small, Kind::unsent};
    auto fs3 = solve({m.trial(lay, no_full), m.trial(lay, no_full), m.trial(lay, no_full)});
    auto &nxt3 = get(fs3, "tcp_sock.snd_nxt");
    CHECK(nxt3.status == FieldStatus::ambiguous);
    CHECK(sorted(nxt3.candidates) == at(lay, {"tcp_sock.snd_nxt", "snd_sml", "snd_up"}));
    // Without data queued as received, rcv_nxt is copied_seq, rcv_wup and
    // rcvq_space.seq too.
    auto t = [&] { return m.trial(lay, {Kind::full, Kind::small, Kind::unsent}, false); };
    auto fs4 = solve({t(), t(), t()});
    auto &rcv = get(fs4, "tcp_sock.rcv_nxt");
    CHECK(rcv.status == FieldStatus::ambiguous);
    CHECK(sorted(rcv.candidates) ==
          at(lay, {"tcp_sock.rcv_nxt", "copied_seq", "rcv_wup", "rcvq_space.seq"}));
  }
}

TEST_CASE("net seq: a value repeated elsewhere in one trial only; a copy in every trial") {
  auto lay = layout_618();
  Maker m;
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  const uint32_t decoy = 3200;
  for (auto &c : trials[1].captures)
    std::memcpy(c.data.data() + decoy, c.known["tcp_sock.snd_una"].data(), 4);
  auto fs = solve(trials);
  CHECK(*get(fs, "tcp_sock.snd_una").offset == lay.at("tcp_sock.snd_una"));
  // The same copy in every capture of every trial: two candidates, no
  // offset (the copy's place, after the field here, does not decide).
  for (auto &t : trials)
    for (auto &c : t.captures)
      std::memcpy(c.data.data() + decoy, c.known["tcp_sock.snd_una"].data(), 4);
  fs = solve(trials);
  auto &una = get(fs, "tcp_sock.snd_una");
  CHECK(una.status == FieldStatus::ambiguous);
  CHECK(una.candidates == std::vector<uint32_t>{lay.at("tcp_sock.snd_una"), decoy});
}

TEST_CASE("net seq: trials without repair sockets leave the fields unresolved") {
  auto lay = layout_618();
  Maker m;
  // TCP_REPAIR refused in one trial: its sockets are missing, the fields
  // are known in two trials only.
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay, {})};
  auto fs = solve(trials);
  for (auto &f : fs) {
    CHECK(f.status == FieldStatus::unresolved);
    CHECK(f.reason.find("known in 2 trial(s)") != std::string::npos);
  }
}

namespace {

// bytes_acked at two closes: the accepted socket at rest after a loopback
// exchange (bytes_acked == bytes_sent, as on every loss-free connection)
// and the acked pair's client (bytes_acked = bytes_sent + n: n bytes acked
// that were queued in repair mode and never transmitted).
SockTrial acked_trial(Maker &m, const Layout &lay, bool pair) {
  SockTrial t;
  for (bool repaired : {false, true}) {
    if (repaired && !pair)
      continue;
    uint64_t sent = 1 + m.r32() % 300000, n = repaired ? 1 + m.r32() % 4000 : 0;
    SockCapture c;
    c.data.resize(kSkBytes);
    for (auto &b : c.data)
      b = static_cast<uint8_t>(m.rng());
    c.readable = ~0ull;
    uint64_t acked = sent + n;
    std::memcpy(c.data.data() + lay.at("tcp_sock.bytes_acked"), &acked, 8);
    std::memcpy(c.data.data() + lay.at("bytes_sent"), &sent, 8);
    c.known["tcp_sock.bytes_acked"] = le_bytes(acked, 8);
    t.captures.push_back(c);
  }
  return t;
}

} // namespace

TEST_CASE("net seq: bytes_acked apart from bytes_sent only through the acked pair") {
  // 6.18's offsets, and bytes_sent after bytes_acked.
  for (const Layout &lay : {Layout{{"tcp_sock.bytes_acked", 1824}, {"bytes_sent", 1544}},
                            Layout{{"tcp_sock.bytes_acked", 1000}, {"bytes_sent", 2000}}}) {
    Maker m;
    std::vector<FieldResult> fs;
    for (const auto &fam : catalogue())
      for (const auto &f : fam.fields)
        if (f.name() == "tcp_sock.bytes_acked")
          fs.push_back(unsolved(f));
    REQUIRE(fs.size() == 1);
    auto one = fs;
    solve_sock_fields(
        {acked_trial(m, lay, true), acked_trial(m, lay, true), acked_trial(m, lay, true)}, 3, one);
    REQUIRE(one[0].status == FieldStatus::calibrated);
    CHECK(*one[0].offset == lay.at("tcp_sock.bytes_acked"));
    solve_sock_fields(
        {acked_trial(m, lay, false), acked_trial(m, lay, false), acked_trial(m, lay, false)}, 3,
        fs);
    CHECK(fs[0].status == FieldStatus::ambiguous);
    CHECK(sorted(fs[0].candidates) == at(lay, {"tcp_sock.bytes_acked", "bytes_sent"}));
  }
}

TEST_CASE("net seq read-back: a sequence number read back wrong is withdrawn") {
  auto lay = layout_618();
  Maker m;
  SockTrial t = m.trial(lay);
  auto fs = seq_fields();
  std::map<std::string, uint32_t> steps;
  std::vector<SockEvent> events;
  uint32_t i = 0;
  for (auto &f : fs) {
    f.status = FieldStatus::calibrated;
    f.offset = lay.at(f.name);
    steps[f.name] = i++;
  }
  for (const auto &c : t.captures) {
    SockEvent e;
    e.capture = c;
    e.vals.resize(32);
    for (const auto &f : fs) {
      std::memcpy(e.vals[steps[f.name]].data(), c.data.data() + *f.offset, 4);
      e.vals_ok |= 1ull << steps[f.name];
    }
    events.push_back(e);
  }
  // The unsent socket's snd_nxt read from write_seq's word.
  std::memcpy(events[2].vals[steps["tcp_sock.snd_nxt"]].data(),
              t.captures[2].data.data() + lay.at("write_seq"), 4);
  check_sock_readback(t, events, steps, fs);
  CHECK(get(fs, "tcp_sock.snd_nxt").status == FieldStatus::unresolved);
  CHECK(get(fs, "tcp_sock.snd_nxt").validation == Validation::failed);
  CHECK(get(fs, "tcp_sock.snd_una").validation == Validation::passed);
  CHECK(get(fs, "tcp_sock.rcv_nxt").validation == Validation::passed);
}

} // namespace offsetprobe::test
