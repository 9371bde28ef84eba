// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/model/trial_json.h"

namespace offsetprobe {

using nlohmann::json;

namespace {

const char *role_name(Role r) {
  switch (r) {
  case Role::leader:
    return "leader";
  case Role::thread:
    return "thread";
  case Role::grandchild:
    return "grandchild";
  case Role::exiter:
    return "exiter";
  case Role::creds:
    return "creds";
  case Role::unshared:
    return "unshared";
  }
  return "leader";
}

std::string hex(const std::vector<uint8_t> &b) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

std::optional<std::vector<uint8_t>> unhex(const std::string &s) {
  if (s.size() % 2)
    return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    return -1;
  };
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); i++) {
    int hi = val(s[2 * i]), lo = val(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

json window(const std::optional<Window> &w) {
  return w ? json::array({w->lo, w->hi}) : json(nullptr);
}

json snapshot(const Snapshot &s) {
  return {
      {"captured", s.captured}, {"task_addr", s.task_addr},   {"tid", s.tid},
      {"tgid", s.tgid},         {"chunk_size", s.chunk_size}, {"readable", s.readable},
      {"bytes", hex(s.bytes)},
  };
}

template <typename T> json opt(const std::optional<T> &v) {
  return v ? json(*v) : json(nullptr);
}

json subject(const Subject &s) {
  json j = snapshot(s.snap);
  j["role"] = role_name(s.role);
  j["comm"] = s.comm;
  j["mono"] = window(s.mono);
  j["boot"] = window(s.boot);
  j["start_ticks"] = opt(s.start_ticks);
  j["exit_code"] = opt(s.wait_status); // v1's name for the wait status
  // The families' own known values (Family::observe), when any were read.
  if (!s.known.empty())
    j["known"] = s.known;
  // The chain stage's known values and capture (only with chains).
  if (s.cred_ids || s.loginuid || s.sessionid || !s.ns_inum.empty() || s.mm || s.chain.captured) {
    j["cred_ids"] = opt(s.cred_ids);
    j["loginuid"] = opt(s.loginuid);
    j["sessionid"] = opt(s.sessionid);
    j["ns_inum"] = s.ns_inum;
    j["mm"] = opt(s.mm);
    json chain = {{"captured", s.chain.captured},
                  {"ptr_offsets", s.chain.ptr_offsets},
                  {"nested_of", s.chain.nested_of}};
    json pointees = json::array(), nested = json::array();
    for (const auto &p : s.chain.pointees)
      pointees.push_back(snapshot(p));
    for (const auto &group : s.chain.nested) {
      json g = json::array();
      for (const auto &p : group)
        g.push_back(snapshot(p));
      nested.push_back(g);
    }
    chain["pointees"] = pointees;
    chain["nested"] = nested;
    j["chain"] = chain;
  }
  return j;
}

bool read_window(const json &j, std::optional<Window> &w) {
  if (j.is_null())
    return true;
  if (!j.is_array() || j.size() != 2 || !j[0].is_number_unsigned() || !j[1].is_number_unsigned())
    return false;
  w = Window{j[0].get<uint64_t>(), j[1].get<uint64_t>()};
  return true;
}

bool read_snapshot(const json &j, Snapshot &s, std::string &error) {
  s.captured = j.at("captured").get<bool>();
  s.task_addr = j.at("task_addr").get<uint64_t>();
  s.tid = j.at("tid").get<uint32_t>();
  s.tgid = j.at("tgid").get<uint32_t>();
  s.chunk_size = j.at("chunk_size").get<uint32_t>();
  s.readable = j.at("readable").get<uint64_t>();
  auto bytes = unhex(j.at("bytes").get<std::string>());
  if (!bytes || s.chunk_size == 0) {
    error = "bad snapshot bytes";
    return false;
  }
  s.bytes = std::move(*bytes);
  return true;
}

template <typename T> void read_opt(const json &j, const char *key, std::optional<T> &v) {
  if (!j.at(key).is_null())
    v = j.at(key).get<T>();
}

bool read_subject(const json &j, Subject &s, std::string &error) {
  try {
    s.comm = j.at("comm").get<std::string>();
    if (!read_snapshot(j, s.snap, error))
      return false;
    if (!read_window(j.at("mono"), s.mono) || !read_window(j.at("boot"), s.boot)) {
      error = "bad window";
      return false;
    }
    read_opt(j, "start_ticks", s.start_ticks);
    read_opt(j, "exit_code", s.wait_status);
    if (j.contains("known"))
      s.known = j.at("known").get<std::map<std::string, int64_t>>();
    if (!j.contains("chain")) // written without chains
      return true;
    read_opt(j, "cred_ids", s.cred_ids);
    read_opt(j, "loginuid", s.loginuid);
    read_opt(j, "sessionid", s.sessionid);
    s.ns_inum = j.at("ns_inum").get<std::map<std::string, uint32_t>>();
    read_opt(j, "mm", s.mm);
    const auto &c = j.at("chain");
    s.chain.captured = c.at("captured").get<bool>();
    s.chain.ptr_offsets = c.at("ptr_offsets").get<std::vector<uint32_t>>();
    s.chain.nested_of = c.at("nested_of").get<std::vector<uint32_t>>();
    for (const auto &p : c.at("pointees")) {
      s.chain.pointees.emplace_back();
      if (!read_snapshot(p, s.chain.pointees.back(), error))
        return false;
    }
    for (const auto &g : c.at("nested")) {
      s.chain.nested.emplace_back();
      for (const auto &p : g) {
        s.chain.nested.back().emplace_back();
        if (!read_snapshot(p, s.chain.nested.back().back(), error))
          return false;
      }
    }
    if (s.chain.captured && (s.chain.pointees.size() != s.chain.ptr_offsets.size() ||
                             s.chain.nested.size() != s.chain.nested_of.size())) {
      error = "chain capture does not match its plan";
      return false;
    }
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
  return true;
}

} // namespace

json to_json(const TrialDump &d) {
  json trials = json::array();
  for (const auto &t : d.trials) {
    json tj = {
        {"leader", subject(t.leader)},
        {"thread", subject(t.thread)},
        {"grandchild", subject(t.grandchild)},
        {"exiter", subject(t.exiter)},
        {"traced", t.traced},
        {"trace_error", t.trace_error},
    };
    // C and N exist only in a calibration with chains (--fields all).
    if (!t.creds.comm.empty() || !t.unshared.comm.empty()) {
      tj["creds"] = subject(t.creds);
      tj["unshared"] = subject(t.unshared);
      tj["creds_error"] = t.creds_error;
      tj["loginuid_error"] = t.loginuid_error;
      tj["unshare_error"] = t.unshare_error;
    }
    trials.push_back(tj);
  }
  return {
      {"format", "offsetprobe-trials/v1"},
      {"options",
       {{"min_trials", d.options.min_trials},
        {"tick_ns", d.options.tick_ns},
        {"struct_size", d.options.struct_size ? json(*d.options.struct_size) : json(nullptr)},
        {"boot_offset_ns", d.options.boot_offset_ns}}},
      {"trials", trials},
  };
}

std::optional<TrialDump> trial_dump_from_json(const json &j, std::string &error) {
  TrialDump d;
  try {
    if (j.at("format").get<std::string>() != "offsetprobe-trials/v1") {
      error = "not an offsetprobe-trials/v1 document";
      return std::nullopt;
    }
    const auto &o = j.at("options");
    d.options.min_trials = o.at("min_trials").get<uint32_t>();
    d.options.tick_ns = o.at("tick_ns").get<uint64_t>();
    if (!o.at("struct_size").is_null())
      d.options.struct_size = o.at("struct_size").get<uint32_t>();
    d.options.boot_offset_ns = o.at("boot_offset_ns").get<int64_t>();
    if (d.options.tick_ns == 0) {
      error = "tick_ns is 0";
      return std::nullopt;
    }
    for (const auto &tj : j.at("trials")) {
      Trial t;
      Subject *subjects[] = {&t.leader, &t.thread, &t.grandchild, &t.exiter};
      const char *names[] = {"leader", "thread", "grandchild", "exiter"};
      for (int i = 0; i < 4; i++) {
        subjects[i]->role = static_cast<Role>(i);
        if (!read_subject(tj.at(names[i]), *subjects[i], error)) {
          error = std::string(names[i]) + ": " + error;
          return std::nullopt;
        }
      }
      t.traced = tj.at("traced").get<bool>();
      t.trace_error = tj.at("trace_error").get<std::string>();
      if (tj.contains("creds")) {
        t.creds.role = Role::creds;
        t.unshared.role = Role::unshared;
        for (auto [s, name] : {std::pair{&t.creds, "creds"}, std::pair{&t.unshared, "unshared"}})
          if (!read_subject(tj.at(name), *s, error)) {
            error = std::string(name) + ": " + error;
            return std::nullopt;
          }
        t.creds_error = tj.at("creds_error").get<std::string>();
        t.loginuid_error = tj.at("loginuid_error").get<std::string>();
        t.unshare_error = tj.at("unshare_error").get<std::string>();
      }
      d.trials.push_back(std::move(t));
    }
  } catch (const std::exception &e) {
    error = e.what();
    return std::nullopt;
  }
  return d;
}

} // namespace offsetprobe
