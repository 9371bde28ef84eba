// SPDX-License-Identifier: GPL-2.0-only
// sock.sk_socket and struct socket (calibration/solve/net/socket_solver.h), and
// sock.sk_type / sk_protocol, on synthetic captures as the socket scanner
// makes them (bpf/sockscan.h: the pointees of the sk's first words, and
// behind the ones that point back to the sk, their words' pointees). Decoys
// a careless predicate would take: another word of the sk whose pointee
// holds the sk too (but no socket state and type), a word leading to
// another sk, the socket's own sk word (whose
// pointee, the sk, holds the socket pointer at sk_socket, as a file holds it
// at private_data), a value repeated at another offset in one trial only,
// and a layout with the members in another order.
#include "calibration/solve/net/socket_solver.h"

#include "calibration/model/catalogue.h"

#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <stdexcept>

namespace offsetprobe::test {

using namespace offsetprobe::net;

namespace {

struct Lay {
  uint32_t sk_socket, sk, file, state, type, private_data, sk_type, sk_protocol;
};
// 6.18 (this host's BTF) and 6.1-like (private_data ~200); then every member
// moved: no order is assumed.
const Lay k618{288, 24, 16, 0, 4, 24, 534, 532};
const Lay k61{272, 24, 16, 0, 4, 200, 532, 534};
const Lay kShuffled{40, 0, 48, 36, 10, 400, 1000, 700};
// The decoy word of the sk: its pointee holds the sk at word 1 in every
// capture (a struct that points back to the sk for as long as it lives).
const uint32_t kDecoyWord = 10;
// A word whose pointee holds another sk.
const uint32_t kOtherWord = 60;

enum class Kind { open, close_connected, close_listener, udp };

struct Maker {
  std::mt19937_64 rng{77};
  uint64_t kptr() { return 0xffff888000000000ull | (rng() & 0xfffffffff8ull); }

  void put(std::vector<uint8_t> &b, size_t off, uint64_t v, uint32_t size) {
    std::memcpy(b.data() + off, &v, size);
  }

  SockCapture capture(const Lay &L, Kind kind, bool deep_file = true) {
    SockCapture c;
    c.sk = kptr();
    uint64_t sock = kptr(), file = kptr();
    c.data.resize(kSkBytes);
    for (auto &b : c.data)
      b = static_cast<uint8_t>(rng());
    c.readable = ~0ull;
    c.follow.resize(kFollowWords * kPeek);
    for (auto &b : c.follow)
      b = static_cast<uint8_t>(rng());
    c.follow_ok = {~0ull, ~0ull};
    put(c.data, L.sk_socket, sock, 8);
    put(c.data, kDecoyWord * 8, kptr(), 8);
    put(c.data, kOtherWord * 8, kptr(), 8);
    uint8_t *s = c.follow.data() + (L.sk_socket / 8) * kPeek;
    std::vector<uint8_t> sb(s, s + kPeek);
    uint32_t ss = kind == Kind::close_connected ? 3 : 1;
    uint16_t type = kind == Kind::udp ? 2 : 1; // SOCK_DGRAM, SOCK_STREAM
    put(sb, L.state, ss, 4);
    put(sb, L.type, type, 2);
    put(sb, L.file, file, 8);
    put(sb, L.sk, c.sk, 8);
    std::memcpy(s, sb.data(), kPeek);
    std::memcpy(c.follow.data() + kDecoyWord * kPeek + 8, &c.sk, 8);
    uint64_t other = kptr();
    std::memcpy(c.follow.data() + kOtherWord * kPeek + 8, &other, 8);
    uint16_t proto = kind == Kind::udp ? 17 : 6;
    put(c.data, L.sk_type, type, 2);
    put(c.data, L.sk_protocol, proto, 2);
    c.known["socket.sk"] = le_bytes(c.sk, 8);
    c.known["socket.state"] = le_bytes(ss, 4);
    c.known["socket.type"] = le_bytes(type, 2);
    c.known["sock.sk_type"] = le_bytes(type, 2);
    c.known["sock.sk_protocol"] = le_bytes(proto, 2);
    c.what = kind == Kind::open ? "open" : kind == Kind::udp ? "udp" : "close";
    // The scanner's deep copies: the first two pointees that hold the sk,
    // in word order (the decoy before sk_socket, unless the layout puts
    // sk_socket first).
    c.deep.resize(kBack * (kPeek / 8) * kDeep);
    for (auto &b : c.deep)
      b = static_cast<uint8_t>(rng());
    {
      bool first = L.sk_socket / 8 < kDecoyWord;
      c.back_word = {first ? L.sk_socket / 8 : kDecoyWord, first ? kDecoyWord : L.sk_socket / 8};
      uint32_t k = first ? 0 : 1;
      c.deep_ok[k] = ~0ull; // every grain of every word's copy
      auto deep = [&](uint32_t m) { return c.deep.data() + (k * (kPeek / 8) + m) * kDeep; };
      if (deep_file)
        std::memcpy(deep(L.file / 8) + L.private_data, &sock, 8);
      else
        c.deep_ok[k] &= ~(0xffull << (L.file / 8 * kDeepGrains));
      // The socket's sk word leads to the sk, which holds the socket
      // pointer at sk_socket (below kDeep in these layouts).
      std::memcpy(deep(L.sk / 8) + L.sk_socket, &sock, 8);
    }
    return c;
  }

  SockTrial trial(const Lay &L, bool closes = true, bool udp = true, bool deep_file = true) {
    SockTrial t;
    for (int i = 0; i < 3; i++)
      t.captures.push_back(capture(L, Kind::open, deep_file));
    if (closes) {
      t.captures.push_back(capture(L, Kind::close_connected));
      t.captures.push_back(capture(L, Kind::close_listener));
    }
    if (udp)
      t.captures.push_back(capture(L, Kind::udp, deep_file));
    return t;
  }
};

const char *kNames[] = {"sock.sk_socket", "socket.sk",    "socket.file",     "socket.type",
                        "socket.state",   "sock.sk_type", "sock.sk_protocol"};

std::vector<FieldResult> fields() {
  std::vector<FieldResult> out;
  for (auto n : kNames) {
    const FieldDef *d = find_field(n);
    REQUIRE(d);
    out.push_back(unsolved(*d));
  }
  return out;
}

FieldResult &get(std::vector<FieldResult> &fs, const std::string &n) {
  for (auto &f : fs)
    if (f.name == n)
      return f;
  throw std::logic_error(n);
}

std::vector<FieldResult> solve(const std::vector<SockTrial> &trials, SocketSolve *out = nullptr,
                               uint32_t min_trials = 3) {
  auto fs = fields();
  solve_sock_fields(trials, min_trials, fs);
  auto s = solve_socket_fields(trials, min_trials, fs);
  if (out)
    *out = s;
  return fs;
}

uint32_t want(const Lay &L, const std::string &n) {
  return n == "sock.sk_socket" ? L.sk_socket
         : n == "socket.sk"    ? L.sk
         : n == "socket.file"  ? L.file
         : n == "socket.type"  ? L.type
         : n == "socket.state" ? L.state
         : n == "sock.sk_type" ? L.sk_type
                               : L.sk_protocol;
}

} // namespace

TEST_CASE("net socket: sk_socket, struct socket, sk_type, sk_protocol exactly, in three layouts") {
  for (const Lay &L : {k618, k61, kShuffled}) {
    Maker m;
    SocketSolve s;
    auto fs = solve({m.trial(L), m.trial(L), m.trial(L)}, &s);
    for (auto &f : fs) {
      INFO(f.name << ": " << f.reason);
      REQUIRE(f.status == FieldStatus::calibrated);
      CHECK(*f.offset == want(L, f.name));
    }
    CHECK(s.private_data == L.private_data);
  }
}

TEST_CASE("net socket: a pointee that points back to the sk is the socket only with its state "
          "and type") {
  Maker m;
  std::vector<SockTrial> trials = {m.trial(k618), m.trial(k618), m.trial(k618)};
  // Without socket.state and socket.type known, no pointee is taken for a
  // socket (the decoy's holds the sk wherever the socket's does).
  auto blind = trials;
  for (auto &t : blind)
    for (auto &c : t.captures) {
      c.known.erase("socket.state");
      c.known.erase("socket.type");
    }
  auto fs = solve(blind);
  CHECK(get(fs, "sock.sk_socket").status == FieldStatus::unresolved);
  CHECK(get(fs, "socket.state").reason.find("not reached") != std::string::npos);
  // The decoy's pointee holds a state and a type like the socket's (at
  // offsets 40 and 44) in one trial only: it falls in the others.
  auto plant = [&](SockTrial &t) {
    for (auto &c : t.captures) {
      uint8_t *d = c.follow.data() + kDecoyWord * kPeek;
      std::memcpy(d + 40, c.known["socket.state"].data(), 4);
      std::memcpy(d + 44, c.known["socket.type"].data(), 2);
    }
  };
  plant(trials[1]);
  fs = solve(trials);
  CHECK(get(fs, "sock.sk_socket").offset == k618.sk_socket);
  CHECK(get(fs, "socket.sk").offset == k618.sk);
  // In every trial: two sockets, no guess.
  plant(trials[0]);
  plant(trials[2]);
  fs = solve(trials);
  auto &sks = get(fs, "sock.sk_socket");
  CHECK(sks.status == FieldStatus::ambiguous);
  CHECK(sks.candidates == std::vector<uint32_t>{kDecoyWord * 8, k618.sk_socket});
}

TEST_CASE("net socket: the socket's sk word, whose pointee holds the socket pointer, is not the "
          "file") {
  Maker m;
  // The real file word not followed in any capture: the sk word satisfies
  // "its pointee holds the socket pointer" (sk_socket) but is not taken.
  auto fs = solve({m.trial(k618, true, true, false), m.trial(k618, true, true, false),
                   m.trial(k618, true, true, false)});
  CHECK(get(fs, "sock.sk_socket").offset == k618.sk_socket);
  auto &f = get(fs, "socket.file");
  CHECK(f.status == FieldStatus::unresolved);
  CHECK_FALSE(f.offset);
}

TEST_CASE("net socket: a state value repeated at another offset in one trial only") {
  Maker m;
  std::vector<SockTrial> trials = {m.trial(k618), m.trial(k618), m.trial(k618)};
  const uint32_t decoy = 56;
  for (auto &c : trials[1].captures)
    std::memcpy(c.follow.data() + (k618.sk_socket / 8) * kPeek + decoy,
                c.known["socket.state"].data(), 4);
  auto fs = solve(trials);
  CHECK(get(fs, "socket.state").offset == k618.state);
  auto alone = solve({trials[1]}, nullptr, 1);
  auto &st = get(alone, "socket.state");
  CHECK(st.status == FieldStatus::ambiguous);
  CHECK(st.candidates == std::vector<uint32_t>{k618.state, decoy});
}

TEST_CASE("net socket: socket.type, sk_type and sk_protocol need the UDP socket") {
  Maker m;
  auto fs =
      solve({m.trial(k618, true, false), m.trial(k618, true, false), m.trial(k618, true, false)});
  for (auto n : {"socket.type", "sock.sk_type", "sock.sk_protocol"}) {
    auto &f = get(fs, n);
    INFO(n);
    CHECK(f.status == FieldStatus::unresolved);
    CHECK(f.reason.find("never changed") != std::string::npos);
  }
  // The others stand without it.
  CHECK(get(fs, "socket.state").offset == k618.state);
  CHECK(get(fs, "socket.file").offset == k618.file);
}

TEST_CASE("net socket read-back: round trips through socket.sk and file.private_data") {
  Maker m;
  SockTrial t = m.trial(k618);
  auto fs = solve({m.trial(k618), m.trial(k618), m.trial(k618)});
  std::map<std::string, uint32_t> steps = {{"sock.sk_socket", 0},
                                           {"sock.sk_socket>socket.sk", 1},
                                           {"socket.file", 2},
                                           {"socket.file>file.private_data", 3}};
  std::vector<SockEvent> events;
  for (const auto &c : t.captures) {
    SockEvent e;
    e.capture = c;
    e.vals.resize(48);
    uint64_t sock = 0, sk = 0;
    std::memcpy(&sock, c.data.data() + k618.sk_socket, 8);
    std::memcpy(&sk, c.known.at("socket.sk").data(), 8);
    e.vals[0][0] = sock;
    e.vals[1][0] = sk;
    e.vals[2][0] = 0x1234;
    e.vals[3][0] = sock;
    e.vals_ok = 0xf;
    events.push_back(e);
  }
  auto good = fs;
  check_socket_readback(t, events, steps, good);
  CHECK(get(good, "sock.sk_socket").validation == Validation::passed);
  CHECK(get(good, "socket.file").validation == Validation::passed);
  // A round trip that does not come back.
  events[2].vals[3][0] ^= 8;
  events[1].vals[1][0] ^= 8;
  auto bad = fs;
  check_socket_readback(t, events, steps, bad);
  for (auto n : {"sock.sk_socket", "socket.file"}) {
    auto &f = get(bad, n);
    INFO(n << ": " << f.validation_detail);
    CHECK(f.validation == Validation::failed);
    CHECK(f.status == FieldStatus::unresolved);
  }
  // No file.private_data offset: no round trip, no read-back.
  steps.erase("socket.file>file.private_data");
  auto none = fs;
  check_socket_readback(t, events, steps, none);
  CHECK(get(none, "socket.file").validation == Validation::failed);
  CHECK(get(none, "socket.file").reason.find("private_data") != std::string::npos);
}

} // namespace offsetprobe::test
