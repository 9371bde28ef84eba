// SPDX-License-Identifier: GPL-2.0-only
// counter_cflags(): the configuration of counter.bcc.c as -D macros. Pure (no
// libbcc), so the unit tests can check it without root.
#include "calibration/error.h"
#include "counting/bcc_counter_session.h"
#include "offsetprobe/exit_codes.h"

#include "counter.h"

#include <cstdio>

namespace offsetprobe {

std::vector<std::string> counter_cflags(const CounterConfig &cfg) {
  uint64_t words[OP_COUNT_BITMAP_WORDS] = {};
  for (uint32_t nr : cfg.syscall_nrs) {
    if (nr >= OP_COUNT_MAX_NR)
      throw Fatal(exit_usage, "counting probe: syscall number " + std::to_string(nr) +
                                  " is beyond the filter (" + std::to_string(OP_COUNT_MAX_NR) +
                                  ")");
    words[nr / 64] |= 1ull << (nr % 64);
  }
  // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) about
  // "-D" + std::string.
  auto d = [](const std::string &name, const std::string &value) {
    std::string s("-D");
    s += name;
    s += '=';
    s += value;
    return s;
  };
  std::vector<std::string> out = {
      // The offsets, as `offsetprobe export --format bcc-cflags` prints them.
      d("OFFSETPROBE_TASK_STRUCT_GROUP_LEADER", std::to_string(cfg.off_group_leader)),
      d("OFFSETPROBE_TASK_STRUCT_START_BOOTTIME", std::to_string(cfg.off_start_boottime)),
      d("OP_TICK_NS", std::to_string(cfg.tick_ns) + "ULL"),
      d("OP_BOOT_OFFSET_NS", "(" + std::to_string(cfg.boot_offset_ns) + "LL)"),
      d("OP_FILTER_TGID", std::to_string(cfg.filter_tgid) + "U"),
      d("OP_COUNT_ENTRIES", std::to_string(cfg.max_entries)),
      d("OP_USE_PIDNS", cfg.pidns ? "1" : "0"),
      d("OP_PIDNS_DEV", std::to_string(cfg.pidns ? cfg.pidns->dev : 0) + "ULL"),
      d("OP_PIDNS_INO", std::to_string(cfg.pidns ? cfg.pidns->ino : 0) + "ULL"),
      d("OP_NO_TASK_CACHE", cfg.no_task_cache ? "1" : "0"),
  };
  for (int i = 0; i < OP_COUNT_BITMAP_WORDS; i++) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "0x%llxULL", static_cast<unsigned long long>(words[i]));
    out.push_back(d("OP_SYSCALLS_W" + std::to_string(i), hex));
  }
  return out;
}

} // namespace offsetprobe
