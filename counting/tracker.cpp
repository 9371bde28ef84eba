// SPDX-License-Identifier: GPL-2.0-only
#include "counting/tracker.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace offsetprobe {

const char *to_string(KeyCheck c) {
  switch (c) {
  case KeyCheck::ok:
    return "ok";
  case KeyCheck::mismatch:
    return "mismatch";
  case KeyCheck::exited:
    return "exited";
  case KeyCheck::reused:
    return "reused";
  case KeyCheck::unverified:
    return "unverified";
  }
  return "unverified";
}

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  ProcStat st;
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // After ") " come fields 3 (state) onwards: field 22 is the 20th of them.
  std::string_view rest = text.substr(close + 1);
  int field = 2;
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ')
      i++;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n')
      j++;
    if (j == i)
      break;
    if (++field == 22) {
      auto [p, ec] = std::from_chars(rest.data() + i, rest.data() + j, st.start_ticks);
      if (ec != std::errc() || p != rest.data() + j)
        return std::nullopt;
      return st;
    }
    i = j;
  }
  return std::nullopt;
}

std::optional<ProcStat> LiveProcSource::stat(uint32_t tgid) {
  std::ifstream f("/proc/" + std::to_string(tgid) + "/stat");
  if (!f)
    return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_proc_stat(ss.str());
}

std::optional<std::string> LiveProcSource::exe(uint32_t tgid) {
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(tgid) + "/exe").c_str(), buf, sizeof(buf));
  if (n <= 0)
    return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

void CountTracker::name(const CountKey &key, const std::string &comm, const std::string &exe) {
  State &s = keys_[key];
  if (!comm.empty())
    s.kcomm = comm;
  if (!exe.empty())
    s.kexe = exe;
}

std::vector<CountKey> CountTracker::update(const std::vector<CountEntry> &entries, ProcSource &proc,
                                           bool full_sweep) {
  std::vector<CountKey> gone;
  bool sweep = updates_++ % sweep_every_ == 0 || full_sweep;
  for (const auto &e : entries) {
    State &s = keys_[e.key];
    bool changed = e.count != s.in_map || s.reported == 0;
    s.in_map = e.count;
    // A process that is gone cannot come back; a key that matched stays
    // matched until its process goes. Only those need no /proc read.
    if (!changed && !sweep && s.check == KeyCheck::ok)
      continue;
    auto st = proc.stat(e.key.tgid);
    if (st && st->start_ticks == e.key.start_ticks) {
      s.check = KeyCheck::ok;
      s.verified = true;
      s.comm = st->comm;
      if (s.kexe.empty()) // only what the kernel did not give
        if (auto x = proc.exe(e.key.tgid))
          s.exe = *x;
    } else if (st) {
      s.check = s.verified ? KeyCheck::reused : KeyCheck::mismatch;
      s.gone = s.verified;
    } else {
      s.check = s.verified ? KeyCheck::exited : KeyCheck::unverified;
      s.gone = true;
    }
    if (s.gone)
      gone.push_back(e.key);
  }
  // Keys not in the map this time were settled earlier (or never counted).
  for (auto &[key, s] : keys_) {
    // A snapshot can be low (see CounterSession::entries), never high: keep
    // the highest seen, so that counts never go down.
    uint64_t now = std::max(s.drained + s.in_map, s.reported);
    s.delta = now - s.reported;
    s.reported = now;
  }
  return gone;
}

void CountTracker::settle(const CountKey &key, uint64_t final_count) {
  auto it = keys_.find(key);
  if (it == keys_.end())
    return;
  State &s = it->second;
  s.drained += final_count;
  s.in_map = 0;
  uint64_t now = std::max(s.drained, s.reported);
  s.delta += now - s.reported;
  s.reported = now;
}

std::vector<ProcessRow> CountTracker::rows() const {
  std::vector<ProcessRow> out;
  out.reserve(keys_.size());
  for (const auto &[key, s] : keys_)
    out.push_back({key, s.kcomm.empty() ? s.comm : s.kcomm, s.kexe.empty() ? s.exe : s.kexe,
                   !s.kcomm.empty() ? "kernel"
                   : s.comm != "-"  ? "proc"
                                    : "-",
                   s.reported, s.delta, s.check});
  std::sort(out.begin(), out.end(), [](const ProcessRow &a, const ProcessRow &b) {
    if (a.count != b.count)
      return a.count > b.count;
    return a.key < b.key;
  });
  return out;
}

uint64_t CountTracker::total() const {
  uint64_t t = 0;
  for (const auto &[key, s] : keys_)
    t += s.reported;
  return t;
}

size_t CountTracker::mismatches() const {
  size_t n = 0;
  for (const auto &[key, s] : keys_)
    n += s.check == KeyCheck::mismatch;
  return n;
}

} // namespace offsetprobe
