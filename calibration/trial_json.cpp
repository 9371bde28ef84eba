// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/trial_json.h"

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

json subject(const Subject &s) {
  return {
      {"role", role_name(s.role)},
      {"comm", s.comm},
      {"captured", s.snap.captured},
      {"task_addr", s.snap.task_addr},
      {"tid", s.snap.tid},
      {"tgid", s.snap.tgid},
      {"chunk_size", s.snap.chunk_size},
      {"readable", s.snap.readable},
      {"bytes", hex(s.snap.bytes)},
      {"mono", window(s.mono)},
      {"boot", window(s.boot)},
      {"start_ticks", s.start_ticks ? json(*s.start_ticks) : json(nullptr)},
      {"exit_code", s.exit_code ? json(*s.exit_code) : json(nullptr)},
  };
}

bool read_window(const json &j, std::optional<Window> &w) {
  if (j.is_null())
    return true;
  if (!j.is_array() || j.size() != 2 || !j[0].is_number_unsigned() || !j[1].is_number_unsigned())
    return false;
  w = Window{j[0].get<uint64_t>(), j[1].get<uint64_t>()};
  return true;
}

bool read_subject(const json &j, Subject &s, std::string &error) {
  try {
    s.comm = j.at("comm").get<std::string>();
    s.snap.captured = j.at("captured").get<bool>();
    s.snap.task_addr = j.at("task_addr").get<uint64_t>();
    s.snap.tid = j.at("tid").get<uint32_t>();
    s.snap.tgid = j.at("tgid").get<uint32_t>();
    s.snap.chunk_size = j.at("chunk_size").get<uint32_t>();
    s.snap.readable = j.at("readable").get<uint64_t>();
    auto bytes = unhex(j.at("bytes").get<std::string>());
    if (!bytes || s.snap.chunk_size == 0) {
      error = "bad snapshot bytes";
      return false;
    }
    s.snap.bytes = std::move(*bytes);
    if (!read_window(j.at("mono"), s.mono) || !read_window(j.at("boot"), s.boot)) {
      error = "bad window";
      return false;
    }
    if (!j.at("start_ticks").is_null())
      s.start_ticks = j.at("start_ticks").get<uint64_t>();
    if (!j.at("exit_code").is_null())
      s.exit_code = j.at("exit_code").get<int32_t>();
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
  return true;
}

} // namespace

json to_json(const TrialDump &d) {
  json trials = json::array();
  for (const auto &t : d.trials)
    trials.push_back({
        {"leader", subject(t.leader)},
        {"thread", subject(t.thread)},
        {"grandchild", subject(t.grandchild)},
        {"exiter", subject(t.exiter)},
        {"traced", t.traced},
        {"trace_error", t.trace_error},
    });
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
      d.trials.push_back(std::move(t));
    }
  } catch (const std::exception &e) {
    error = e.what();
    return std::nullopt;
  }
  return d;
}

} // namespace offsetprobe
