// SPDX-License-Identifier: GPL-2.0-only
// The net family's solver (calibration/solve/net/sock_solver.h) on synthetic
// captures: random bytes, the known values planted at a layout's offsets,
// and decoys that a careless predicate would take: a second socket with the
// same port in another namespace, address bytes equal to a port, a value
// repeated at another offset in one trial only, inet_saddr equal to
// skc_rcv_saddr, and a shuffled layout (no declaration-order rule may help).
#include "calibration/solve/net/sock_solver.h"

#include "calibration/model/catalogue.h"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>
#include <stdexcept>

namespace offsetprobe::test {

using namespace offsetprobe::net;

namespace {

using Layout = std::map<std::string, uint32_t>;

// 6.1-like offsets (sock_common, sock, inet_sock).
Layout layout_61() {
  return {{"sock_common.skc_daddr", 0},
          {"sock_common.skc_rcv_saddr", 4},
          {"sock_common.skc_dport", 12},
          {"sock_common.skc_num", 14},
          {"sock_common.skc_family", 16},
          {"sock_common.skc_state", 18},
          {"sock_common.skc_bound_dev_if", 20},
          {"sock_common.skc_net", 48},
          {"sock_common.skc_v6_daddr", 56},
          {"sock_common.skc_v6_rcv_saddr", 72},
          {"sock_common.skc_cookie", 88},
          {"sock.sk_rcvbuf", 260},
          {"sock.sk_sndbuf", 328},
          {"sock.sk_priority", 424},
          {"sock.sk_mark", 428},
          {"sock.sk_uid", 516},
          {"sock.sk_ack_backlog", 596},
          {"sock.sk_max_ack_backlog", 600},
          {"inet_sock.inet_saddr", 816},
          {"inet_sock.inet_sport", 830},
          {"tcp_sock.srtt_us", 1680},
          {"tcp_sock.mdev_us", 1588},
          {"tcp_sock.snd_cwnd", 1444},
          {"tcp_sock.bytes_received", 1752},
          {"tcp_sock.segs_in", 1760},
          {"tcp_sock.segs_out", 1536}};
}

// The same fields shuffled: inet_saddr before skc_rcv_saddr, skc_num
// before skc_dport, the v6 addresses swapped.
Layout layout_shuffled() {
  return {{"sock_common.skc_daddr", 1040},
          {"sock_common.skc_rcv_saddr", 2000},
          {"sock_common.skc_dport", 34},
          {"sock_common.skc_num", 30},
          {"sock_common.skc_family", 3000},
          {"sock_common.skc_state", 7},
          {"sock_common.skc_bound_dev_if", 640},
          {"sock_common.skc_net", 504},
          {"sock_common.skc_v6_daddr", 1200},
          {"sock_common.skc_v6_rcv_saddr", 900},
          {"sock_common.skc_cookie", 16},
          {"sock.sk_rcvbuf", 1500},
          {"sock.sk_sndbuf", 1504},
          {"sock.sk_priority", 100},
          {"sock.sk_mark", 104},
          {"sock.sk_uid", 3500},
          {"sock.sk_ack_backlog", 2200},
          {"sock.sk_max_ack_backlog", 2204},
          {"inet_sock.inet_saddr", 60},
          {"inet_sock.inet_sport", 3900},
          {"tcp_sock.srtt_us", 3020},
          {"tcp_sock.mdev_us", 200},
          {"tcp_sock.snd_cwnd", 2500},
          {"tcp_sock.bytes_received", 2600},
          {"tcp_sock.segs_in", 3800},
          {"tcp_sock.segs_out", 3804}};
}

const SockFieldSpec &spec(const std::string &name) {
  for (const auto &s : sock_value_fields())
    if (s.name == name)
      return s;
  throw std::logic_error(name);
}

struct Maker {
  std::mt19937_64 rng{12345};
  uint32_t r32() { return static_cast<uint32_t>(rng()); }

  // A capture: random bytes (as a real sk is full of other values), the
  // known values at the layout's offsets, the inum words.
  SockCapture capture(const Layout &lay, const std::map<std::string, std::vector<uint8_t>> &known,
                      uint32_t netns,
                      const std::map<std::string, std::pair<uint64_t, uint32_t>> &shr = {}) {
    SockCapture c;
    c.data.resize(kSkBytes);
    for (auto &b : c.data)
      b = static_cast<uint8_t>(rng());
    c.readable = ~0ull;
    for (const auto &[name, v] : known)
      std::memcpy(c.data.data() + lay.at(name), v.data(), v.size());
    c.known = known;
    for (const auto &[name, vs] : shr) {
      // The field holds value << shift plus low bits TCP_INFO drops.
      uint32_t v =
          static_cast<uint32_t>((vs.first << vs.second) | (r32() & ((1u << vs.second) - 1)));
      std::memcpy(c.data.data() + lay.at(name), &v, 4);
    }
    c.known_shr = shr;
    for (uint32_t i = 0; i < kSkWords; i++) {
      c.inum[i] = r32();
      c.words_ok |= 1ull << i;
    }
    c.inum[lay.at("sock_common.skc_net") / 8] = netns;
    return c;
  }

  // One trial: a multicast listener, a v4 client, a v6 client, as the
  // subject makes them.
  SockTrial trial(const Layout &lay, bool multicast = true) {
    SockTrial t;
    t.netns_inum = 0xf0000000 + (r32() & 0xffffff);
    auto common = [&](int family) {
      std::map<std::string, std::vector<uint8_t>> k;
      k["sock_common.skc_family"] = le_bytes(static_cast<uint16_t>(family), 2);
      k["sock_common.skc_bound_dev_if"] = le_bytes(r32() & 1, 4);
      k["sock_common.skc_cookie"] = le_bytes(1000 + (r32() & 0xfffff), 8);
      for (auto n :
           {"sock.sk_mark", "sock.sk_priority", "sock.sk_rcvbuf", "sock.sk_sndbuf", "sock.sk_uid"})
        k[n] = le_bytes(r32() | 1, 4);
      uint16_t port = static_cast<uint16_t>(10000 + r32() % 50000);
      k["sock_common.skc_num"] = le_bytes(port, 2);
      k["inet_sock.inet_sport"] = be16_bytes(port);
      return k;
    };
    auto v4 = [&](uint8_t first) {
      return std::vector<uint8_t>{first, static_cast<uint8_t>(r32()), static_cast<uint8_t>(r32()),
                                  static_cast<uint8_t>(r32() | 1)};
    };
    if (multicast) {
      auto k = common(2);
      k["sock_common.skc_rcv_saddr"] = v4(239);
      k["inet_sock.inet_saddr"] = {0, 0, 0, 0};
      k["sock_common.skc_daddr"] = {0, 0, 0, 0};
      k["sock_common.skc_dport"] = {0, 0};
      k["sock_common.skc_state"] = {10};
      k["sock.sk_max_ack_backlog"] = le_bytes(16 + r32() % 900, 4);
      k["sock.sk_ack_backlog"] = le_bytes(r32() % 3, 4);
      t.captures.push_back(capture(lay, k, t.netns_inum));
    }
    for (uint8_t state : {7, 1}) {
      auto k = common(2);
      auto local = v4(127);
      k["sock_common.skc_rcv_saddr"] = local;
      k["inet_sock.inet_saddr"] = local;
      k["sock_common.skc_daddr"] = v4(127);
      k["sock_common.skc_dport"] = be16_bytes(static_cast<uint16_t>(10000 + r32() % 50000));
      k["sock_common.skc_state"] = {state};
      k["sock.sk_max_ack_backlog"] = le_bytes(16 + r32() % 900, 4);
      k["sock.sk_ack_backlog"] = le_bytes(r32() % 3, 4);
      std::map<std::string, std::pair<uint64_t, uint32_t>> shr;
      if (state == 1) { // the accepted socket at its close: TCP_INFO
        shr["tcp_sock.srtt_us"] = {20 + r32() % 200, 3};
        shr["tcp_sock.mdev_us"] = {5 + r32() % 100, 2};
        k["tcp_sock.snd_cwnd"] = le_bytes(10 + r32() % 40, 4);
        k["tcp_sock.bytes_received"] = le_bytes(1 + r32() % 40000, 8);
        k["tcp_sock.segs_in"] = le_bytes(3 + r32() % 300, 4);
        k["tcp_sock.segs_out"] = le_bytes(3 + r32() % 300, 4);
      }
      t.captures.push_back(capture(lay, k, t.netns_inum, shr));
    }
    auto k = common(10);
    std::vector<uint8_t> a(16), b(16);
    for (auto *v : {&a, &b})
      for (auto &x : *v)
        x = static_cast<uint8_t>(rng());
    k["sock_common.skc_v6_rcv_saddr"] = a;
    k["sock_common.skc_v6_daddr"] = b;
    k["sock_common.skc_dport"] = be16_bytes(static_cast<uint16_t>(10000 + r32() % 50000));
    k["sock_common.skc_state"] = {8};
    t.captures.push_back(capture(lay, k, t.netns_inum));
    return t;
  }
};

// The fields these captures know (tcp_sock's sequence numbers have their
// own sockets and tests: test_net_seq.cpp).
std::vector<FieldResult> net_fields() {
  std::vector<FieldResult> out;
  auto lay = layout_61();
  for (const auto &fam : catalogue())
    if (fam.name == "net")
      for (const auto &f : fam.fields)
        if (lay.count(f.name()))
          out.push_back(unsolved(f));
  return out;
}

FieldResult &get(std::vector<FieldResult> &fs, const std::string &n) {
  for (auto &f : fs)
    if (f.name == n)
      return f;
  throw std::logic_error(n);
}

void check_exact(std::vector<FieldResult> &fs, const Layout &lay) {
  for (auto &f : fs) {
    INFO(f.name << " " << f.reason);
    REQUIRE(f.status == FieldStatus::calibrated);
    CHECK(*f.offset == lay.at(f.name));
  }
}

} // namespace

TEST_CASE("net solver: every field exactly, in a 6.1-like and in a shuffled layout") {
  for (const auto &lay : {layout_61(), layout_shuffled()}) {
    Maker m;
    std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
    auto fs = net_fields();
    REQUIRE(fs.size() == lay.size());
    solve_sock_fields(trials, 3, fs);
    check_exact(fs, lay);
  }
}

TEST_CASE("net solver: address bytes equal to a port are not the port") {
  Maker m;
  auto lay = layout_61();
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  // Trial 1: the peer's address ends in the bytes of the peer port (network
  // order), so skc_daddr + 2 also holds "the port" there.
  for (auto &c : trials[0].captures) {
    if (!c.known.count("sock_common.skc_daddr"))
      continue; // a v6 socket
    auto &dport = c.known["sock_common.skc_dport"];
    auto &daddr = c.known["sock_common.skc_daddr"];
    daddr[2] = dport[0];
    daddr[3] = dport[1];
    std::memcpy(c.data.data() + lay.at("sock_common.skc_daddr"), daddr.data(), 4);
  }
  // Its v4 hits alone take the address's bytes for the port too.
  SockTrial v4 = trials[0];
  std::erase_if(v4.captures,
                [](const SockCapture &c) { return !c.known.count("sock_common.skc_daddr"); });
  auto one = value_candidates({v4}, spec("sock_common.skc_dport"));
  CHECK(std::count(one.begin(), one.end(), lay.at("sock_common.skc_daddr") + 2) == 1);
  auto fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  CHECK(*get(fs, "sock_common.skc_dport").offset == lay.at("sock_common.skc_dport"));
  CHECK(*get(fs, "sock_common.skc_daddr").offset == lay.at("sock_common.skc_daddr"));
}

TEST_CASE("net solver: a value repeated at another offset in one trial only") {
  Maker m;
  auto lay = layout_61();
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  const uint32_t decoy = 2048;
  for (auto &c : trials[1].captures)
    std::memcpy(c.data.data() + decoy, c.known["sock_common.skc_cookie"].data(), 8);
  auto two = value_candidates({trials[1]}, spec("sock_common.skc_cookie"));
  CHECK(two.size() == 2);
  auto fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  CHECK(*get(fs, "sock_common.skc_cookie").offset == lay.at("sock_common.skc_cookie"));
  // With that trial alone the field stays ambiguous, with both candidates.
  auto alone = net_fields();
  solve_sock_fields({trials[1]}, 1, alone);
  auto &c = get(alone, "sock_common.skc_cookie");
  CHECK(c.status == FieldStatus::ambiguous);
  CHECK(c.candidates == std::vector<uint32_t>{lay.at("sock_common.skc_cookie"), decoy});
}

TEST_CASE("net solver: a second socket with the same port in another namespace") {
  Maker m;
  auto lay = layout_61();
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  // The subject's connect, among hits of another namespace's socket with the
  // same port and address: softirq work (another transition) and a decoy
  // connect elsewhere would be the same transition: the hit is then refused.
  SockEvent mine, softirq, other;
  mine.capture = trials[0].captures[1];
  mine.capture.oldstate = 7, mine.capture.newstate = 2;
  softirq.capture = mine.capture;
  softirq.capture.oldstate = 2, softirq.capture.newstate = 1;
  other.capture = mine.capture;
  other.capture.inum.fill(0x12345);
  std::string why;
  auto at = pick_hit({softirq, mine}, 7, 2, why);
  REQUIRE(at);
  CHECK(*at == 1);
  CHECK_FALSE(pick_hit({softirq, mine, other}, 7, 2, why));
  CHECK(why.find("2 hits") != std::string::npos);
  CHECK_FALSE(pick_hit({softirq}, 7, 2, why));
  // Its captured words lead to another namespace's inode: as a capture of a
  // trial it leaves skc_net without a candidate rather than taking a wrong one.
  trials[2].captures.push_back(other.capture);
  CHECK(skc_net_candidates(trials).empty());
  trials[2].captures.pop_back();
  CHECK(skc_net_candidates(trials) == std::vector<uint32_t>{lay.at("sock_common.skc_net")});
}

TEST_CASE("net solver: inet_saddr and skc_rcv_saddr need the multicast listener") {
  Maker m;
  auto lay = layout_61();
  std::vector<SockTrial> trials = {m.trial(lay, false), m.trial(lay, false), m.trial(lay, false)};
  auto fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  for (auto n : {"sock_common.skc_rcv_saddr", "inet_sock.inet_saddr"}) {
    auto &f = get(fs, n);
    CHECK(f.status == FieldStatus::ambiguous);
    CHECK(f.candidates == std::vector<uint32_t>{lay.at("sock_common.skc_rcv_saddr"),
                                                lay.at("inet_sock.inet_saddr")});
  }
}

TEST_CASE("net solver: ipv6_pinfo's saddr copy, excluded through inet_sock.pinet6 only") {
  Maker m;
  auto lay = layout_61();
  // 6.1's generic layout, and an rt one (5.10.0-30-rt-amd64: its larger
  // locks put inet_sock.pinet6 past the first 1024 bytes, where the scan for
  // it once stopped: skc_v6_rcv_saddr was then ambiguous on every rt build).
  uint32_t pinfo = 2304, pinet6 = 792;
  SUBCASE("generic") {}
  SUBCASE("rt") {
    pinfo = 2632;
    pinet6 = 1096;
  }
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay), m.trial(lay)};
  uint64_t sk = 0xffff888100000000ull;
  for (auto &t : trials)
    for (auto &c : t.captures) {
      c.sk = (sk += 0x1000);
      bool v6 = c.known["sock_common.skc_family"][0] == 10;
      uint64_t w = v6 ? c.sk + pinfo : 0; // tcp6_sock: ipv6_pinfo after tcp_sock
      std::memcpy(c.data.data() + pinet6, &w, 8);
      if (v6) // np->saddr, the same address as skc_v6_rcv_saddr
        std::memcpy(c.data.data() + pinfo, c.known["sock_common.skc_v6_rcv_saddr"].data(), 16);
    }
  CHECK(ipv6_pinfo_start(trials) == pinfo);
  auto fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  CHECK(*get(fs, "sock_common.skc_v6_rcv_saddr").offset == lay.at("sock_common.skc_v6_rcv_saddr"));
  // Where no word is pinet6 (a v4 socket's is not 0), the copy is not
  // excluded: ambiguous, never a guess.
  uint64_t junk = 0x1234;
  std::memcpy(trials[1].captures[0].data.data() + pinet6, &junk, 8);
  CHECK_FALSE(ipv6_pinfo_start(trials));
  fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  auto &f = get(fs, "sock_common.skc_v6_rcv_saddr");
  CHECK(f.status == FieldStatus::ambiguous);
  CHECK(f.candidates == std::vector<uint32_t>{lay.at("sock_common.skc_v6_rcv_saddr"), pinfo});
}

TEST_CASE("net solver: too few trials, or a value that never changed, is no offset") {
  Maker m;
  auto lay = layout_61();
  std::vector<SockTrial> trials = {m.trial(lay), m.trial(lay)};
  auto fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  for (auto &f : fs)
    CHECK_MESSAGE(f.status == FieldStatus::unresolved, f.name);
  trials.push_back(m.trial(lay));
  for (auto &t : trials)
    for (auto &c : t.captures) {
      c.known["sock.sk_mark"] = le_bytes(77, 4);
      std::memcpy(c.data.data() + lay.at("sock.sk_mark"), c.known["sock.sk_mark"].data(), 4);
    }
  fs = net_fields();
  solve_sock_fields(trials, 3, fs);
  CHECK(get(fs, "sock.sk_mark").status == FieldStatus::unresolved);
  CHECK(get(fs, "sock.sk_mark").reason.find("never changed") != std::string::npos);
}

TEST_CASE("net read-back: a value read back wrong makes the field unresolved") {
  Maker m;
  auto lay = layout_61();
  SockTrial t = m.trial(lay);
  auto fs = net_fields();
  std::map<std::string, uint32_t> steps;
  std::vector<SockEvent> events;
  for (auto &f : fs) {
    f.status = FieldStatus::calibrated;
    f.offset = lay.at(f.name);
  }
  // The step of each field, read as the kernel would from each capture.
  for (const auto &c : t.captures) {
    SockEvent e;
    e.capture = c;
    e.vals.resize(32);
    uint32_t i = 0;
    for (const auto &f : fs) {
      steps[f.name == "sock_common.skc_net" ? f.name + ">net.ns.inum" : f.name] = i;
      if (f.name == "sock_common.skc_net")
        e.vals[i][0] = t.netns_inum;
      else
        std::memcpy(e.vals[i].data(), c.data.data() + *f.offset, f.size);
      e.vals_ok |= 1ull << i;
      i++;
    }
    events.push_back(e);
  }
  events[1].vals[steps["sock.sk_mark"]][0] ^= 1;
  events[0].vals_ok &= ~(1ull << steps["sock_common.skc_cookie"]);
  check_sock_readback(t, events, steps, fs);
  for (auto &f : fs) {
    INFO(f.name << " " << f.validation_detail);
    bool broken = f.name == "sock.sk_mark" || f.name == "sock_common.skc_cookie";
    CHECK((f.status == FieldStatus::calibrated) == !broken);
    CHECK(f.validation == (broken ? Validation::failed : Validation::passed));
  }
}

TEST_CASE("skc_net falls with net.ns.inum's read-back, and only then") {
  auto field = [](const std::string &name, uint32_t offset, Validation v) {
    FieldResult f;
    f.name = name;
    f.status = FieldStatus::calibrated;
    f.offset = offset;
    f.validation = v;
    return f;
  };
  for (Validation inum : {Validation::passed, Validation::failed, Validation::not_run}) {
    std::vector<FieldResult> fields = {field("net.ns.inum", 16, inum),
                                       field("sock_common.skc_net", 48, Validation::passed),
                                       field("sock_common.skc_daddr", 0, Validation::passed)};
    if (inum == Validation::failed) {
      fields[0].status = FieldStatus::unresolved;
      fields[0].offset.reset();
    }
    skc_net_behind_failed_inum(fields);
    CHECK(fields[2].status == FieldStatus::calibrated); // not read through net.ns.inum
    if (inum == Validation::passed) {
      CHECK(fields[1].status == FieldStatus::calibrated);
      CHECK(fields[1].offset == 48u);
    } else {
      CHECK(fields[1].status == FieldStatus::unresolved);
      CHECK_FALSE(fields[1].offset);
      CHECK(fields[1].validation == Validation::failed);
      CHECK(fields[1].reason.find("net.ns.inum") != std::string::npos);
    }
  }
}

TEST_CASE("net solver: hits the scanner did not copy count, and are never picked") {
  SockEvent copied, uncopied, softirq;
  copied.capture.oldstate = kClose, copied.capture.newstate = kSynSent;
  copied.capture.data.assign(kSkBytes, 0);
  uncopied.capture = copied.capture;
  uncopied.capture.data.clear();
  uncopied.capture.uncopied = true;
  softirq.capture.oldstate = kSynSent, softirq.capture.newstate = kEstablished;
  softirq.capture.uncopied = true;
  std::string why;
  // An uncopied hit of another move is no obstacle: the copied one is taken.
  auto at = pick_hit({softirq, copied}, kClose, kSynSent, why);
  REQUIRE(at);
  CHECK(*at == 1);
  // An uncopied hit of the asked move still counts: two hits, none taken.
  CHECK_FALSE(pick_hit({copied, uncopied}, kClose, kSynSent, why));
  CHECK(why.find("2 hits") != std::string::npos);
  // The only hit of the move, uncopied: the trial is void, not read.
  CHECK_FALSE(pick_hit({softirq, uncopied}, kClose, kSynSent, why));
  CHECK(why.find("no copy") != std::string::npos);
  // A move the scanner is not told to copy is a subject's bug.
  CHECK_THROWS_AS(pick_hit({softirq}, kSynSent, kEstablished, why), std::logic_error);
}

TEST_CASE("net solver: the scanner's copy_at bitmap holds the picked moves and no other") {
  auto w = copy_at_words(kPickedTransitions);
  auto has = [&w](int o, int n) {
    uint32_t bit = static_cast<uint32_t>(o) << 4 | static_cast<uint32_t>(n);
    return (w[bit / 64] >> (bit % 64) & 1) != 0;
  };
  int set = 0;
  for (int o = 0; o < 16; o++)
    for (int n = 0; n < 16; n++)
      set += has(o, n);
  CHECK(set == static_cast<int>(kPickedTransitions.size()));
  for (const auto &t : kPickedTransitions)
    CHECK(has(t.oldstate, t.newstate));
  CHECK_FALSE(has(kSynSent, kEstablished));
  CHECK_FALSE(has(kSynSent, kClose)); // kClose -> kSynSent reversed
  CHECK(has(kClose, kListen));        // word 1: 7 << 4 | 10 = 122
  CHECK_THROWS_AS(copy_at_words({{{16, 1}}}), std::logic_error);
}

} // namespace offsetprobe::test
