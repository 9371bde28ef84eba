// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/net/sock_trial_json.h"

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace offsetprobe::net {

using nlohmann::json;

namespace {

std::string hex(const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

std::string hex(const std::vector<uint8_t> &v) {
  return hex(v.data(), v.size());
}

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

// Throws std::runtime_error on anything malformed: trials_from_json turns it
// into its error.
std::vector<uint8_t> unhex(const json &j, const char *what) {
  if (!j.is_string())
    throw std::runtime_error(std::string(what) + " is not a hex string");
  const auto &s = j.get_ref<const std::string &>();
  if (s.size() % 2)
    throw std::runtime_error(std::string(what) + " has an odd number of hex digits");
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); i++) {
    int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      throw std::runtime_error(std::string(what) + " is not lowercase hex");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

uint64_t unhex64(const json &j, const char *what) {
  if (!j.is_string() || j.get_ref<const std::string &>().rfind("0x", 0) != 0)
    throw std::runtime_error(std::string(what) + " is not a 0x hex string");
  size_t used = 0;
  const auto &s = j.get_ref<const std::string &>();
  uint64_t v = std::stoull(s, &used, 16);
  if (used != s.size())
    throw std::runtime_error(std::string(what) + " is not a 0x hex string");
  return v;
}

template <size_t N> json u64s(const std::array<uint64_t, N> &a) {
  json out = json::array();
  for (auto v : a)
    out.push_back(hex64(v));
  return out;
}

template <size_t N> void u64s_from(const json &j, std::array<uint64_t, N> &a, const char *what) {
  if (!j.is_array() || j.size() != N)
    throw std::runtime_error(std::string(what) + " is not an array of " + std::to_string(N));
  for (size_t i = 0; i < N; i++)
    a[i] = unhex64(j[i], what);
}

// Bit i of `mask` as bits [i * n, i * n + n): a mask of chunks as one of
// grains, n grains a chunk.
uint64_t spread_bits(uint64_t mask, uint32_t n) {
  uint64_t out = 0;
  for (uint32_t i = 0; i * n < 64; i++)
    if (mask >> i & 1)
      out |= (n >= 64 ? ~0ull : (1ull << n) - 1) << (i * n);
  return out;
}

json capture_to_json(const SockCapture &c) {
  json known = json::object(), known_not = json::object(), known_shr = json::object();
  for (const auto &[k, v] : c.known)
    known[k] = hex(v);
  for (const auto &[k, v] : c.known_not)
    known_not[k] = hex(v);
  for (const auto &[k, v] : c.known_shr)
    known_shr[k] = {hex64(v.first), v.second};
  json inum = json::array();
  for (auto v : c.inum)
    inum.push_back(v);
  return {{"what", c.what},
          {"sk", hex64(c.sk)},
          {"oldstate", c.oldstate},
          {"newstate", c.newstate},
          {"hook", static_cast<int>(c.hook)},
          {"data", hex(c.data)},
          {"grain", kSkGrain},
          {"readable", hex64(c.readable)},
          {"inum", inum},
          {"words_ok", hex64(c.words_ok)},
          {"follow", hex(c.follow)},
          {"follow_ok", u64s(c.follow_ok)},
          {"back_word", c.back_word},
          {"deep", hex(c.deep)},
          {"deep_ok", u64s(c.deep_ok)},
          {"known", known},
          {"known_not", known_not},
          {"known_shr", known_shr}};
}

SockCapture capture_from_json(const json &j) {
  SockCapture c;
  c.what = j.at("what").get<std::string>();
  c.sk = unhex64(j.at("sk"), "sk");
  c.oldstate = j.at("oldstate").get<int>();
  c.newstate = j.at("newstate").get<int>();
  int hook = j.at("hook").get<int>();
  if (hook != static_cast<int>(Hook::state) && hook != static_cast<int>(Hook::udp))
    throw std::runtime_error("hook " + std::to_string(hook) + " is unknown");
  c.hook = static_cast<Hook>(hook);
  c.data = unhex(j.at("data"), "data");
  if (c.data.size() != kSkBytes)
    throw std::runtime_error("data is not " + std::to_string(kSkBytes) + " bytes");
  c.readable = unhex64(j.at("readable"), "readable");
  // Captures made before the masks counted grains (no "grain": one bit per
  // 256 B chunk of data, one per whole kDeep copy in deep_ok) have each bit
  // spread over its grains.
  bool chunk_masks = !j.contains("grain");
  if (!chunk_masks && (!j.at("grain").is_number_unsigned() || j.at("grain") != kSkGrain))
    throw std::runtime_error("grain is " + j.at("grain").dump() + ", want " +
                             std::to_string(kSkGrain));
  if (chunk_masks)
    c.readable = spread_bits(c.readable, kSkChunk / kSkGrain);
  const auto &inum = j.at("inum");
  if (!inum.is_array() || inum.size() != c.inum.size())
    throw std::runtime_error("inum is not an array of " + std::to_string(c.inum.size()));
  for (size_t i = 0; i < c.inum.size(); i++)
    c.inum[i] = inum[i].get<uint32_t>();
  c.words_ok = unhex64(j.at("words_ok"), "words_ok");
  c.follow = unhex(j.at("follow"), "follow");
  if (!c.follow.empty() && c.follow.size() != kFollowWords * kPeek)
    throw std::runtime_error("follow is not " + std::to_string(kFollowWords * kPeek) + " bytes");
  u64s_from(j.at("follow_ok"), c.follow_ok, "follow_ok");
  c.back_word = j.at("back_word").get<std::array<uint32_t, 2>>();
  c.deep = unhex(j.at("deep"), "deep");
  if (!c.deep.empty() && c.deep.size() != kBack * (kPeek / 8) * kDeep)
    throw std::runtime_error("deep is not " + std::to_string(kBack * (kPeek / 8) * kDeep) +
                             " bytes");
  u64s_from(j.at("deep_ok"), c.deep_ok, "deep_ok");
  if (chunk_masks)
    for (auto &d : c.deep_ok)
      d = spread_bits(d, kDeepGrains);
  for (const auto &[k, v] : j.at("known").items())
    c.known[k] = unhex(v, "a known value");
  for (const auto &[k, v] : j.at("known_not").items())
    c.known_not[k] = unhex(v, "a known-not value");
  for (const auto &[k, v] : j.at("known_shr").items()) {
    if (!v.is_array() || v.size() != 2)
      throw std::runtime_error("known_shr." + k + " is not [value, shift]");
    c.known_shr[k] = {unhex64(v[0], "a shifted known value"), v[1].get<uint32_t>()};
  }
  return c;
}

} // namespace

json trials_to_json(const std::vector<SockTrial> &trials, uint32_t min_trials) {
  json ts = json::array();
  for (const auto &t : trials) {
    json cs = json::array();
    for (const auto &c : t.captures)
      cs.push_back(capture_to_json(c));
    ts.push_back({{"netns_inum", t.netns_inum}, {"captures", cs}});
  }
  return {{"format", kNetTrialsFormat}, {"min_trials", min_trials}, {"trials", ts}};
}

std::optional<NetTrialDump> trials_from_json(const json &j, std::string &error) {
  try {
    if (!j.is_object() || j.value("format", "") != kNetTrialsFormat)
      throw std::runtime_error(std::string("not ") + kNetTrialsFormat);
    NetTrialDump d;
    d.min_trials = j.at("min_trials").get<uint32_t>();
    for (const auto &t : j.at("trials")) {
      SockTrial trial;
      trial.netns_inum = t.at("netns_inum").get<uint32_t>();
      for (const auto &c : t.at("captures"))
        trial.captures.push_back(capture_from_json(c));
      d.trials.push_back(std::move(trial));
    }
    return d;
  } catch (const std::exception &e) {
    error = e.what();
    return std::nullopt;
  }
}

bool write_trials_file(const std::string &path, const std::vector<SockTrial> &trials,
                       uint32_t min_trials, std::string &error) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << trials_to_json(trials, min_trials).dump() << '\n';
    f.flush();
    if (!f) {
      error = "cannot write " + tmp;
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path;
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

} // namespace offsetprobe::net
