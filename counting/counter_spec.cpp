// SPDX-License-Identifier: GPL-2.0-only
// counter_spec() and counter_cflags(): the counting probe's configuration as
// a ProgramSpec, and that spec as BCC's -D macros. Pure (no libbpf, no
// libbcc), so the unit tests can check it without root.
#include "calibration/model/error.h"
#include "counting/bcc_counter_session.h"

#include "counter.h"

namespace offsetprobe {

ProgramSpec counter_spec(const CounterConfig &cfg) {
  std::vector<uint64_t> words(OP_COUNT_BITMAP_WORDS);
  for (uint32_t nr : cfg.syscall_nrs) {
    if (nr >= OP_COUNT_MAX_NR)
      throw Error(ErrorKind::usage, "counting probe: syscall number " + std::to_string(nr) +
                                        " is beyond the filter (" +
                                        std::to_string(OP_COUNT_MAX_NR) + ")");
    words[nr / 64] |= 1ull << (nr % 64);
  }
  bool raw = cfg.hook == CountHook::raw_tracepoint;
  ProgramSpec spec("the counting probe");
  // The offsets, as `offsetprobe export --format bcc-cflags` prints them.
  spec.offset("off_group_leader", "OFFSETPROBE_TASK_STRUCT_GROUP_LEADER", cfg.off_group_leader)
      .offset("off_start_boottime", "OFFSETPROBE_TASK_STRUCT_START_BOOTTIME",
              cfg.off_start_boottime)
      .u64("tick_ns", "OP_TICK_NS", cfg.tick_ns)
      .s64("boot_offset_ns", "OP_BOOT_OFFSET_NS", cfg.boot_offset_ns)
      .u32("filter_tgid", "OP_FILTER_TGID", cfg.filter_tgid)
      .flag("use_pidns", "OP_USE_PIDNS", cfg.pidns.has_value())
      .u64("pidns_dev", "OP_PIDNS_DEV", cfg.pidns ? cfg.pidns->dev : 0)
      .u64("pidns_ino", "OP_PIDNS_INO", cfg.pidns ? cfg.pidns->ino : 0)
      .flag("no_task_cache", "OP_NO_TASK_CACHE", cfg.no_task_cache)
      .u64_words("syscalls", "OP_SYSCALLS_W", words)
      .map_size("counts", "OP_COUNT_ENTRIES", cfg.max_entries)
      .map_size("tasks", "OP_COUNT_ENTRIES", cfg.max_entries)
      .load(raw ? "count_raw" : "count_tp")
      .load("count_exit");
  if (cfg.names) { // libbpf only: the BCC loader never sets names
    add_file_walk_constants(spec, *cfg.names);
    spec.constant({"with_names", 4, {1}, {}})
        .constant({"off_comm", 4, {cfg.off_comm}, {}})
        .load("count_exec");
  }
  return spec;
}

std::vector<std::string> counter_cflags(const CounterConfig &cfg) {
  return counter_spec(cfg).bcc_cflags();
}

} // namespace offsetprobe
