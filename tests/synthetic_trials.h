// SPDX-License-Identifier: GPL-2.0-only
// A builder of synthetic trials for the solver's unit tests: four subjects per
// trial with random background bytes, known values (addresses, tids, cookies,
// clock windows, /proc start ticks, exit code) and the fields placed at chosen
// offsets. Every value is a pure function of (trial index, role, parameters),
// so a test can place the same known value again elsewhere as a decoy.
#pragma once

#include "calibration/model/snapshot.h"
#include "calibration/solve/solver.h"

#include <cstring>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace offsetprobe::test {

// Where each field sits in the synthetic task_struct. Deliberately not the
// layout of any real kernel; comm is at an odd offset (it is a char array).
inline std::map<std::string, uint32_t> default_layout() {
  return {{"exit_code", 120}, {"pid", 200},          {"tgid", 204},       {"real_parent", 240},
          {"parent", 248},    {"group_leader", 264}, {"start_time", 400}, {"start_boottime", 408},
          {"comm", 601}};
}

struct Synth {
  uint32_t size = 1024;       // bytes captured per subject
  uint32_t chunk_size = 256;  // capture chunk size
  uint64_t suspended_ns = 0;  // CLOCK_BOOTTIME - CLOCK_MONOTONIC (0: never suspended)
  uint64_t boot_gap_ns = 30;  // start_boottime - start_time of one task (fork reads mono first)
  int64_t boot_offset_ns = 0; // time namespace boottime offset that /proc adds
  uint64_t tick_ns = 10'000'000;
  bool traced = true; // T PTRACE_SEIZEd G
  std::map<std::string, uint32_t> layout = default_layout();
  std::set<std::string> omit; // fields placed nowhere
  uint64_t seed = 1;

  static constexpr int roles = 4; // leader, thread, grandchild, exiter

  uint64_t addr(int i, int r) const { return 0xffff888100000000ull + i * 0x100000ull + r * 0x2000; }
  // The leader's parent (the subject host): neither 0 nor the leader.
  uint64_t host_addr(int i) const { return 0xffff888100f00000ull + i * 0x40ull; }
  uint32_t tid(int i, int r) const { return 4000 + 17 * i + r; }
  uint32_t tgid(int i, int r) const { return r <= 1 ? tid(i, 0) : tid(i, r); }
  std::string cookie(int i, int r) const {
    std::string c = "opLq00zxkwvnmrs"; // 15 characters, unique per (trial, role)
    c[2] = "LTGE"[r];
    c[4] = char('0' + i / 10 % 10);
    c[5] = char('0' + i % 10);
    return c;
  }
  uint64_t mono(int i, int r) const {
    return 5'000'001'234ull + i * 1'000'000'000ull + r * 1'000'000;
  }
  uint64_t boot(int i, int r) const { return mono(i, r) + suspended_ns + boot_gap_ns; }
  int32_t exit_code(int i) const { return (1 + (i * 37) % 254) << 8; }

  SolveOptions options() const {
    SolveOptions o;
    o.tick_ns = tick_ns;
    o.boot_offset_ns = boot_offset_ns;
    return o;
  }

  // Writes, into every subject of trial i, the value `member` must have.
  void place(Trial &t, int i, const std::string &member, uint32_t off) const {
    Subject *s[roles] = {&t.leader, &t.thread, &t.grandchild, &t.exiter};
    for (int r = 0; r < roles; r++) {
      auto &b = s[r]->snap.bytes;
      auto put = [&](const auto &v) { std::memcpy(b.data() + off, &v, sizeof v); };
      if (member == "pid")
        put(int32_t(tid(i, r)));
      else if (member == "tgid")
        put(int32_t(tgid(i, r)));
      else if (member == "comm") {
        char c[16] = {};
        cookie(i, r).copy(c, 15);
        put(c);
      } else if (member == "group_leader")
        put(r <= 1 ? addr(i, 0) : addr(i, r));
      else if (member == "real_parent")
        put(r <= 1 ? host_addr(i) : addr(i, 0));
      else if (member == "parent")
        put(r <= 1 ? host_addr(i) : r == 2 && t.traced ? addr(i, 1) : addr(i, 0));
      else if (member == "start_time")
        put(mono(i, r));
      else if (member == "start_boottime")
        put(boot(i, r));
      else if (member == "exit_code")
        put(int32_t(r == 3 ? exit_code(i) : 0));
      else
        throw std::invalid_argument("unknown field " + member);
    }
  }

  Trial trial(int i) const {
    Trial t;
    t.traced = traced;
    if (!traced)
      t.trace_error = "Operation not permitted";
    Subject *s[roles] = {&t.leader, &t.thread, &t.grandchild, &t.exiter};
    std::mt19937_64 rng(seed * 1000 + i);
    for (int r = 0; r < roles; r++) {
      Subject &x = *s[r];
      x.role = static_cast<Role>(r);
      x.comm = cookie(i, r);
      x.snap.captured = true;
      x.snap.task_addr = addr(i, r);
      x.snap.tid = tid(i, r);
      x.snap.tgid = tgid(i, r);
      x.snap.chunk_size = chunk_size;
      uint32_t chunks = (size + chunk_size - 1) / chunk_size;
      x.snap.readable = chunks >= 64 ? ~0ull : (1ull << chunks) - 1;
      x.snap.bytes.resize(size);
      for (auto &byte : x.snap.bytes)
        byte = static_cast<uint8_t>(rng());
      x.mono = Window{mono(i, r) - 20'000, mono(i, r) + 20'000};
      x.boot = Window{x.mono->lo + suspended_ns, x.mono->hi + suspended_ns + boot_gap_ns};
      // The calibrator reads /proc/<pid>/stat for L, T and G (E is gone).
      if (r < 3)
        x.start_ticks = uint64_t(int64_t(boot(i, r)) + boot_offset_ns) / tick_ns;
    }
    t.exiter.wait_status = exit_code(i);
    for (const auto &[member, off] : layout)
      if (!omit.count(member))
        place(t, i, member, off);
    return t;
  }

  std::vector<Trial> trials(int n) const {
    std::vector<Trial> out;
    for (int i = 0; i < n; i++)
      out.push_back(trial(i));
    return out;
  }
};

// Marks chunk c unreadable in every subject of t.
inline void make_unreadable(Trial &t, uint32_t c) {
  for (Subject *s : {&t.leader, &t.thread, &t.grandchild, &t.exiter})
    s->snap.readable &= ~(1ull << c);
}

} // namespace offsetprobe::test
