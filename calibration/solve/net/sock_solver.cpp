// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/net/sock_solver.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace offsetprobe::net {

const std::vector<SockFieldSpec> &sock_value_fields() {
  static const std::vector<SockFieldSpec> f = {
      {"sock_common.skc_daddr", 4, 4},
      {"sock_common.skc_rcv_saddr", 4, 4},
      {"sock_common.skc_dport", 2, 2},
      {"sock_common.skc_num", 2, 2},
      {"sock_common.skc_family", 2, 2},
      {"sock_common.skc_state", 1, 1},
      {"sock_common.skc_bound_dev_if", 4, 4},
      {"sock_common.skc_v6_daddr", 16, 4},
      {"sock_common.skc_v6_rcv_saddr", 16, 4},
      {"sock_common.skc_cookie", 8, 8},
      {"sock.sk_mark", 4, 4},
      {"sock.sk_priority", 4, 4},
      {"sock.sk_rcvbuf", 4, 4},
      {"sock.sk_sndbuf", 4, 4},
      {"sock.sk_max_ack_backlog", 4, 4},
      {"sock.sk_ack_backlog", 4, 4},
      {"sock.sk_uid", 4, 4},
      {"inet_sock.inet_sport", 2, 2},
      {"inet_sock.inet_saddr", 4, 4},
      {"tcp_sock.srtt_us", 4, 4},
      {"tcp_sock.mdev_us", 4, 4},
      {"tcp_sock.snd_cwnd", 4, 4},
      {"tcp_sock.bytes_received", 8, 8},
      {"tcp_sock.segs_in", 4, 4},
      {"tcp_sock.segs_out", 4, 4},
      // calibration/experiment/net/seq_subject.cpp
      {"tcp_sock.snd_una", 4, 4},
      {"tcp_sock.snd_nxt", 4, 4},
      {"tcp_sock.rcv_nxt", 4, 4},
      {"tcp_sock.bytes_acked", 8, 8},
      // calibration/experiment/net/retrans_subject.cpp
      {"tcp_sock.total_retrans", 4, 4},
      // u16 since 5.6 (bit-fields before: net_experiment.cpp refuses them
      // there); the UDP socket's hits (udp_subject.cpp) vary them.
      {"sock.sk_type", 2, 2},
      {"sock.sk_protocol", 2, 2},
  };
  return f;
}

std::vector<uint8_t> le_bytes(uint64_t v, uint32_t size) {
  std::vector<uint8_t> out(size);
  for (uint32_t i = 0; i < size && i < 8; i++)
    out[i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

std::vector<uint8_t> be16_bytes(uint16_t v) {
  return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::array<uint64_t, 4> copy_at_words(const std::array<Transition, 6> &moves) {
  std::array<uint64_t, 4> w{};
  for (const auto &m : moves) {
    if (m.oldstate < 0 || m.oldstate > 15 || m.newstate < 0 || m.newstate > 15)
      throw std::logic_error("copy_at_words: a TCP state outside 0-15");
    uint32_t bit = static_cast<uint32_t>(m.oldstate) << 4 | static_cast<uint32_t>(m.newstate);
    w[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  return w;
}

std::optional<size_t> pick_hit(const std::vector<SockEvent> &events, int oldstate, int newstate,
                               std::string &why) {
  if (std::none_of(kPickedTransitions.begin(), kPickedTransitions.end(), [&](const Transition &t) {
        return t.oldstate == oldstate && t.newstate == newstate;
      }))
    throw std::logic_error("pick_hit: " + std::to_string(oldstate) + " -> " +
                           std::to_string(newstate) +
                           " is not in kPickedTransitions: the scanner does not copy its sk");
  std::optional<size_t> hit;
  int n = 0;
  for (size_t i = 0; i < events.size(); i++)
    if (events[i].capture.oldstate == oldstate && events[i].capture.newstate == newstate) {
      hit = i;
      n++;
    }
  if (n == 1 && events[*hit].capture.uncopied) {
    why = "the hit of " + std::to_string(oldstate) + " -> " + std::to_string(newstate) +
          " carries no copy of the sk";
    return std::nullopt;
  }
  if (n == 1)
    return hit;
  why = std::to_string(n) + " hits of " + std::to_string(oldstate) + " -> " +
        std::to_string(newstate) + " among " + std::to_string(events.size()) + ", want 1";
  return std::nullopt;
}

namespace {

bool readable(const SockCapture &c, uint32_t off, uint32_t size) {
  return off + size <= c.data.size() && c.data_read(off, size);
}

} // namespace

std::vector<uint32_t> value_candidates(const std::vector<SockTrial> &trials, const SockFieldSpec &f,
                                       uint32_t *support) {
  std::vector<uint32_t> cands;
  for (uint32_t off = 0; off + f.size <= kSkBytes; off += f.align)
    cands.push_back(off);
  uint32_t n = 0;
  for (const auto &t : trials) {
    bool knew = false;
    for (const auto &c : t.captures) {
      if (auto no = c.known_not.find(f.name);
          no != c.known_not.end() && no->second.size() == f.size)
        std::erase_if(cands, [&](uint32_t off) {
          return readable(c, off, f.size) &&
                 std::memcmp(c.data.data() + off, no->second.data(), f.size) == 0;
        });
      if (auto sh = c.known_shr.find(f.name); sh != c.known_shr.end()) {
        knew = true;
        std::erase_if(cands, [&](uint32_t off) {
          if (!readable(c, off, f.size))
            return true;
          uint64_t v = 0;
          std::memcpy(&v, c.data.data() + off, std::min<uint32_t>(f.size, 8));
          return (v >> sh->second.second) != sh->second.first;
        });
      }
      auto k = c.known.find(f.name);
      if (k == c.known.end() || k->second.size() != f.size)
        continue;
      knew = true;
      std::erase_if(cands, [&](uint32_t off) {
        return !readable(c, off, f.size) ||
               std::memcmp(c.data.data() + off, k->second.data(), f.size) != 0;
      });
    }
    n += knew;
  }
  if (support)
    *support = n;
  return n ? cands : std::vector<uint32_t>{};
}

std::vector<uint32_t> skc_net_candidates(const std::vector<SockTrial> &trials, uint32_t *support) {
  std::vector<uint32_t> words;
  for (uint32_t i = 0; i < kSkWords; i++)
    words.push_back(i);
  uint32_t n = 0;
  for (const auto &t : trials) {
    if (t.netns_inum == 0 || t.captures.empty())
      continue;
    n++;
    for (const auto &c : t.captures)
      std::erase_if(
          words, [&](uint32_t i) { return !(c.words_ok >> i & 1) || c.inum[i] != t.netns_inum; });
  }
  if (support)
    *support = n;
  std::vector<uint32_t> out;
  if (n)
    for (uint32_t i : words)
      out.push_back(8 * i);
  return out;
}

std::optional<uint32_t> ipv6_pinfo_start(const std::vector<SockTrial> &trials) {
  std::map<uint32_t, std::optional<uint64_t>> words; // word offset -> d (nullopt: not yet seen)
  // inet_sock.pinet6 is in inet_sock, which ends before 2 KiB on every
  // layout seen (992 B on 6.1, 1248-1304 B on rt kernels, whose pinet6 is
  // at 1032-1096: the 1 KiB this scan once stopped at missed it).
  for (uint32_t off = 0; off < 2048; off += 8)
    words[off];
  bool v4 = false, v6 = false;
  for (const auto &t : trials)
    for (const auto &c : t.captures) {
      auto fam = c.known.find("sock_common.skc_family");
      if (fam == c.known.end() || fam->second.size() != 2)
        continue;
      bool is6 = fam->second[0] == 10 && fam->second[1] == 0;
      v4 |= !is6;
      v6 |= is6;
      for (auto it = words.begin(); it != words.end();) {
        uint64_t w = 0;
        bool ok = readable(c, it->first, 8);
        if (ok)
          std::memcpy(&w, c.data.data() + it->first, 8);
        bool keep = ok;
        if (ok && is6) {
          uint64_t d = w - c.sk;
          keep = w > c.sk && d < kSkBytes && (!it->second || *it->second == d);
          if (keep)
            it->second = d;
        } else if (ok) {
          keep = w == 0;
        }
        it = keep ? std::next(it) : words.erase(it);
      }
    }
  if (!v4 || !v6 || words.size() != 1 || !words.begin()->second)
    return std::nullopt;
  return static_cast<uint32_t>(*words.begin()->second);
}

namespace {

// Distinct known values of a field across trials: a field whose value never
// changed (a port that happened to repeat, say) proves nothing.
uint32_t distinct_values(const std::vector<SockTrial> &trials, const std::string &name) {
  std::vector<std::vector<uint8_t>> seen;
  for (const auto &t : trials)
    for (const auto &c : t.captures) {
      std::vector<uint8_t> v;
      if (auto k = c.known.find(name); k != c.known.end())
        v = k->second;
      else if (auto sh = c.known_shr.find(name); sh != c.known_shr.end())
        v = le_bytes(sh->second.first, 8);
      if (!v.empty() && std::find(seen.begin(), seen.end(), v) == seen.end())
        seen.push_back(v);
    }
  return static_cast<uint32_t>(seen.size());
}

void settle(FieldResult &f, const std::vector<uint32_t> &cands, uint32_t support,
            uint32_t min_trials, const std::string &none) {
  f.candidates.clear();
  f.offset.reset();
  if (support < min_trials) {
    f.status = FieldStatus::unresolved;
    f.reason =
        "known in " + std::to_string(support) + " trial(s), want " + std::to_string(min_trials);
    return;
  }
  f.trials = support;
  if (cands.size() == 1) {
    f.status = FieldStatus::calibrated;
    f.offset = cands[0];
    f.reason.clear();
  } else if (cands.empty()) {
    f.status = FieldStatus::unresolved;
    f.reason = none;
  } else {
    f.status = FieldStatus::ambiguous;
    // The first 32 (a field whose known values were too weak can leave
    // hundreds).
    f.candidates.assign(cands.begin(), cands.begin() + std::min<size_t>(cands.size(), 32));
    f.reason = std::to_string(cands.size()) + " offsets hold the known value in every capture";
  }
}

} // namespace

void solve_sock_fields(const std::vector<SockTrial> &trials, uint32_t min_trials,
                       std::vector<FieldResult> &fields) {
  auto pinfo = ipv6_pinfo_start(trials);
  for (auto &f : fields) {
    if (f.name == "sock_common.skc_net") {
      uint32_t support = 0;
      auto c = skc_net_candidates(trials, &support);
      settle(f, c, support, min_trials,
             "no word of the sk leads to the subject's net.ns.inum in every capture");
      continue;
    }
    auto spec = std::find_if(sock_value_fields().begin(), sock_value_fields().end(),
                             [&](const SockFieldSpec &s) { return s.name == f.name; });
    if (spec == sock_value_fields().end())
      continue;
    uint32_t support = 0;
    auto c = value_candidates(trials, *spec, &support);
    // Not in struct ipv6_pinfo (its saddr copies skc_v6_rcv_saddr).
    if (pinfo)
      std::erase_if(c, [&](uint32_t off) { return off + spec->size > *pinfo; });
    settle(f, c, support, min_trials, "no offset holds the known value in every capture");
    // One value seen in every trial: its candidates are where that value
    // happens to sit, not where the field is.
    if (f.status == FieldStatus::calibrated && distinct_values(trials, f.name) < 2) {
      f.status = FieldStatus::unresolved;
      f.candidates = c;
      f.offset.reset();
      f.reason = kNeverChanged;
    }
  }
}

namespace {

std::string hex(const uint8_t *p, size_t n) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

} // namespace

void check_sock_readback(const SockTrial &trial, const std::vector<SockEvent> &events,
                         const std::map<std::string, uint32_t> &steps,
                         std::vector<FieldResult> &fields) {
  for (auto &f : fields) {
    // Read back through a round trip: socket_solver.h's check_socket_readback.
    if (f.status != FieldStatus::calibrated || f.name == "sock.sk_socket" ||
        f.name == "socket.file")
      continue;
    auto st = steps.find(f.name == "sock_common.skc_net" ? f.name + ">net.ns.inum" : f.name);
    std::string bad;
    uint32_t seen = 0;
    for (size_t i = 0; st != steps.end() && i < events.size() && i < trial.captures.size(); i++) {
      const auto &e = events[i];
      const auto &c = trial.captures[i];
      std::vector<uint8_t> want;
      if (f.name == "sock_common.skc_net") {
        want = le_bytes(trial.netns_inum, 4);
      } else if (auto k = c.known.find(f.name); k != c.known.end() && !k->second.empty()) {
        want = k->second;
      } else if (!c.known_shr.count(f.name)) {
        continue;
      }
      seen++;
      uint32_t s = st->second;
      const auto *got = reinterpret_cast<const uint8_t *>(e.vals.at(s).data());
      if (!(e.vals_ok >> s & 1)) {
        bad = c.what + ": not readable";
      } else if (auto sh = c.known_shr.find(f.name); sh != c.known_shr.end()) {
        uint64_t v = e.vals[s][0] & (f.size >= 8 ? ~0ull : (1ull << (8 * f.size)) - 1);
        if ((v >> sh->second.second) != sh->second.first)
          bad = c.what + ": read " + std::to_string(v) + ", want " +
                std::to_string(sh->second.first) + " << " + std::to_string(sh->second.second);
      } else if (std::memcmp(got, want.data(), want.size()) != 0)
        bad =
            c.what + ": read " + hex(got, want.size()) + ", want " + hex(want.data(), want.size());
      if (!bad.empty())
        break;
    }
    if (bad.empty() && seen == 0)
      bad = "no hit of the validation trial knows it";
    if (bad.empty()) {
      f.validation = Validation::passed;
      f.validation_detail = "read back from the sk in " + std::to_string(seen) + " hits";
      continue;
    }
    fail_readback(f, bad, "read-back failed: " + bad);
  }
}

void skc_net_behind_failed_inum(std::vector<FieldResult> &fields) {
  for (const auto &f : fields)
    if (f.name == "net.ns.inum" && f.status == FieldStatus::calibrated &&
        f.validation == Validation::passed)
      return;
  const std::string why = "read back through net.ns.inum, which failed its own read-back";
  for (auto &f : fields)
    if (f.name == "sock_common.skc_net" && f.status == FieldStatus::calibrated) {
      fail_readback(f, why, why);
    }
}

} // namespace offsetprobe::net
