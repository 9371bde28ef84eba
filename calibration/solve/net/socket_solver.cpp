// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/net/socket_solver.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace offsetprobe::net {

namespace {

const char *const kSkSocket = "sock.sk_socket";
const char *const kSk = "socket.sk";
const char *const kState = "socket.state";
const char *const kType = "socket.type";
const char *const kFile = "socket.file";

uint64_t word_at(const uint8_t *p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

bool followed(const SockCapture &c, uint32_t w) {
  return w < kFollowWords && c.follow.size() >= kFollowWords * kPeek &&
         (c.follow_ok[w / 64] >> (w % 64) & 1);
}

const uint8_t *peek(const SockCapture &c, uint32_t w) {
  return c.follow.data() + static_cast<size_t>(w) * kPeek;
}

std::optional<uint64_t> known_sk(const SockCapture &c) {
  auto k = c.known.find(kSk);
  if (k == c.known.end() || k->second.size() != 8)
    return std::nullopt;
  return word_at(k->second.data());
}

FieldResult *find(std::vector<FieldResult> &fields, const std::string &name) {
  for (auto &f : fields)
    if (f.name == name)
      return &f;
  return nullptr;
}

void settle(FieldResult *f, const std::vector<uint32_t> &cands, uint32_t support, uint32_t distinct,
            uint32_t min_trials, const std::string &none) {
  if (!f)
    return;
  f->candidates.clear();
  f->offset.reset();
  f->status = FieldStatus::unresolved;
  if (support < min_trials) {
    f->reason =
        "known in " + std::to_string(support) + " trial(s), want " + std::to_string(min_trials);
    return;
  }
  f->trials = support;
  if (cands.empty()) {
    f->reason = none;
  } else if (cands.size() > 1) {
    f->status = FieldStatus::ambiguous;
    f->candidates.assign(cands.begin(), cands.begin() + std::min<size_t>(cands.size(), 32));
    f->reason = std::to_string(cands.size()) + " offsets hold the known value in every capture";
  } else if (distinct < 2) {
    f->candidates = cands;
    f->reason = kNeverChanged;
  } else {
    f->status = FieldStatus::calibrated;
    f->offset = cands[0];
    f->reason.clear();
  }
}

void unreached(std::vector<FieldResult> &fields, const std::string &why) {
  for (auto n : {kState, kType, kFile})
    if (auto *f = find(fields, n)) {
      f->status = FieldStatus::unresolved;
      f->offset.reset();
      f->candidates.clear();
      f->reason = why;
    }
}

// Offsets of socket.state or socket.type in the pointee of the sk's word w
// that hold the known value in every capture that knows it.
std::vector<uint32_t> in_pointee(const std::vector<SockTrial> &trials, uint32_t w, const char *name,
                                 uint32_t size, uint32_t *support = nullptr,
                                 uint32_t *distinct = nullptr) {
  std::vector<uint32_t> cands;
  for (uint32_t off = 0; off + size <= kPeek; off += size)
    cands.push_back(off);
  std::set<std::vector<uint8_t>> values;
  uint32_t n = 0;
  for (const auto &t : trials) {
    bool knew = false;
    for (const auto &c : t.captures) {
      auto k = c.known.find(name);
      if (k == c.known.end() || k->second.size() != size)
        continue;
      knew = true;
      values.insert(k->second);
      std::erase_if(cands, [&](uint32_t off) {
        return !followed(c, w) || std::memcmp(peek(c, w) + off, k->second.data(), size) != 0;
      });
    }
    n += knew;
  }
  if (support)
    *support = n;
  if (distinct)
    *distinct = static_cast<uint32_t>(values.size());
  return n ? cands : std::vector<uint32_t>{};
}

void by_value(const std::vector<SockTrial> &trials, uint32_t w, const char *name, uint32_t size,
              uint32_t min_trials, std::vector<FieldResult> &fields) {
  uint32_t support = 0, distinct = 0;
  auto cands = in_pointee(trials, w, name, size, &support, &distinct);
  settle(find(fields, name), cands, support, distinct, min_trials,
         "no offset of the socket holds the known value in every capture");
}

// socket.file: (m, p) pairs, m a word of the socket, p a word of its
// pointee that holds the socket pointer. Returns the pairs left.
std::set<std::pair<uint32_t, uint32_t>> file_pairs(const std::vector<SockTrial> &trials, uint32_t w,
                                                   uint32_t &support) {
  std::set<std::pair<uint32_t, uint32_t>> pairs;
  for (uint32_t m = 0; m < kPeek / 8; m++)
    for (uint32_t p = 0; p < kDeep / 8; p++)
      pairs.insert({m, p});
  support = 0;
  for (const auto &t : trials) {
    bool knew = false;
    for (const auto &c : t.captures) {
      auto sk = known_sk(c);
      if (!sk || *sk == 0 || !followed(c, w))
        continue;
      uint32_t k = 0;
      while (k < kBack && c.back_word[k] != w)
        k++;
      if (k == kBack || c.deep.size() < kBack * (kPeek / 8) * kDeep)
        continue; // the scanner did not follow this socket's words
      knew = true;
      uint64_t sock = word_at(c.data.data() + w * 8);
      std::erase_if(pairs, [&](const auto &mp) {
        auto [m, p] = mp;
        if (!c.deep_read(k, m, p * 8, 8) || word_at(peek(c, w) + m * 8) == c.sk)
          return true; // not read, or the word holding the sk: the file is not the sk
        return word_at(c.deep.data() + (k * (kPeek / 8) + m) * kDeep + p * 8) != sock;
      });
    }
    support += knew;
  }
  return pairs;
}

} // namespace

bool is_socket_field(const std::string &name) {
  return name == kSkSocket || name == kSk || name == kState || name == kType || name == kFile;
}

SocketSolve solve_socket_fields(const std::vector<SockTrial> &trials, uint32_t min_trials,
                                std::vector<FieldResult> &fields) {
  SocketSolve out;
  // sk_socket and socket.sk together: (word of the sk, word of its pointee).
  std::set<std::pair<uint32_t, uint32_t>> pairs;
  for (uint32_t w = 0; w < kFollowWords; w++)
    for (uint32_t j = 0; j < kPeek / 8; j++)
      pairs.insert({w, j});
  std::set<uint64_t> values;
  uint32_t support = 0;
  for (const auto &t : trials) {
    bool knew = false;
    for (const auto &c : t.captures) {
      auto sk = known_sk(c);
      if (!sk)
        continue;
      knew = true;
      values.insert(*sk);
      std::erase_if(pairs, [&](const auto &wj) {
        return !followed(c, wj.first) || word_at(peek(c, wj.first) + wj.second * 8) != *sk;
      });
    }
    support += knew;
  }
  // sk_socket's pointee is a struct socket: its state and type hold their
  // known values too. A struct that merely points back to the sk (a
  // listener's request socks do) does not.
  std::set<uint32_t> ws, js;
  for (auto [w, j] : pairs)
    if (!in_pointee(trials, w, kState, 4).empty() && !in_pointee(trials, w, kType, 2).empty()) {
      ws.insert(w * 8);
      js.insert(j * 8);
    }
  auto distinct = static_cast<uint32_t>(values.size());
  settle(find(fields, kSkSocket), {ws.begin(), ws.end()}, support, distinct, min_trials,
         "no word of the sk points to a struct that holds the sk (socket.sk), the socket's state "
         "and its type in every capture");
  settle(find(fields, kSk), {js.begin(), js.end()}, support, distinct, min_trials,
         "no word behind the sk's words holds the sk in every capture");
  if (ws.size() != 1 || support < min_trials || distinct < 2) {
    unreached(fields, "sock.sk_socket not found: struct socket not reached");
    return out;
  }
  uint32_t w = *ws.begin() / 8;
  by_value(trials, w, kState, 4, min_trials, fields);
  by_value(trials, w, kType, 2, min_trials, fields);
  uint32_t file_support = 0;
  auto fp = file_pairs(trials, w, file_support);
  std::set<uint32_t> ms;
  for (auto [m, p] : fp)
    ms.insert(m * 8);
  // Every capture that knows it has a socket of its own: distinct pointers.
  settle(find(fields, kFile), {ms.begin(), ms.end()}, file_support, file_support ? 2 : 0,
         min_trials, "no word of the socket points to a struct that holds the socket pointer");
  if (ms.size() == 1)
    out.private_data = fp.begin()->second * 8;
  return out;
}

void check_socket_readback(const SockTrial &trial, const std::vector<SockEvent> &events,
                           const std::map<std::string, uint32_t> &steps,
                           std::vector<FieldResult> &fields) {
  auto step = [&](const std::string &n) -> std::optional<uint32_t> {
    auto it = steps.find(n);
    return it == steps.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  };
  for (auto &f : fields) {
    if (f.status != FieldStatus::calibrated || (f.name != kSkSocket && f.name != kFile))
      continue;
    bool file = f.name == kFile;
    auto own = step(f.name);
    auto child = step(file ? "socket.file>file.private_data" : "sock.sk_socket>socket.sk");
    auto sock = step(kSkSocket);
    std::string bad;
    uint32_t seen = 0;
    if (!own || !child || !sock)
      bad = file ? "no round trip: file.private_data's offset is unknown"
                 : "no round trip: socket.sk is not calibrated";
    for (size_t i = 0; bad.empty() && i < events.size() && i < trial.captures.size(); i++) {
      const auto &c = trial.captures[i];
      const auto &e = events[i];
      auto sk = known_sk(c);
      if (!sk || (file && *sk == 0))
        continue;
      seen++;
      if (!(e.vals_ok >> *child & 1))
        bad = c.what + ": not readable";
      else if (uint64_t want = file ? e.vals[*sock][0] : *sk; e.vals[*child][0] != want)
        bad = c.what + ": the round trip read " + std::to_string(e.vals[*child][0]) + ", want " +
              std::to_string(want);
    }
    if (bad.empty() && seen == 0)
      bad = "no hit of the validation trial knows it";
    if (bad.empty()) {
      f.validation = Validation::passed;
      f.validation_detail = std::string("read back from the sk in ") + std::to_string(seen) +
                            " hits, round trip through " +
                            (file ? "file.private_data" : "socket.sk");
      continue;
    }
    fail_readback(f, bad, "read-back failed: " + bad);
  }
}

} // namespace offsetprobe::net
