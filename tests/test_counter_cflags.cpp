// SPDX-License-Identifier: GPL-2.0-only
// counter_cflags(): the BCC counting probe's configuration as -D macros. The
// offsets must use exactly the names and form `export --format bcc-cflags`
// prints, so a BCC consumer and offsetprobe compile the same way.
#include "calibration/model/error.h"
#include "counting/bcc_counter_session.h"

#include <doctest/doctest.h>

#include <algorithm>

using namespace offsetprobe;

namespace {

bool has(const std::vector<std::string> &v, const std::string &s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

} // namespace

TEST_CASE("counter_cflags: offsets under their export names, configuration, bitmap") {
  CounterConfig c;
  c.off_group_leader = 1328;
  c.off_start_boottime = 1560;
  c.tick_ns = 10'000'000;
  c.boot_offset_ns = -42;
  c.filter_tgid = 77;
  c.max_entries = 1024;
  c.syscall_nrs = {0, 63, 64, 110, 469};
  auto f = counter_cflags(c);
  CHECK(has(f, "-DOFFSETPROBE_TASK_STRUCT_GROUP_LEADER=1328"));
  CHECK(has(f, "-DOFFSETPROBE_TASK_STRUCT_START_BOOTTIME=1560"));
  CHECK(has(f, "-DOP_TICK_NS=10000000ULL"));
  CHECK(has(f, "-DOP_BOOT_OFFSET_NS=(-42LL)"));
  CHECK(has(f, "-DOP_FILTER_TGID=77U"));
  CHECK(has(f, "-DOP_COUNT_ENTRIES=1024"));
  CHECK(has(f, "-DOP_USE_PIDNS=0"));
  CHECK(has(f, "-DOP_NO_TASK_CACHE=0"));
  CHECK(has(f, "-DOP_SYSCALLS_W0=0x8000000000000001ULL"));
  CHECK(has(f, "-DOP_SYSCALLS_W1=0x400000000001ULL")); // 64 and 110
  CHECK(has(f, "-DOP_SYSCALLS_W7=0x200000ULL"));       // 469 = 7 * 64 + 21
  CHECK(has(f, "-DOP_SYSCALLS_W2=0x0ULL"));

  c.pidns = PidNamespace{4, 4026532000};
  f = counter_cflags(c);
  CHECK(has(f, "-DOP_USE_PIDNS=1"));
  CHECK(has(f, "-DOP_PIDNS_DEV=4ULL"));
  CHECK(has(f, "-DOP_PIDNS_INO=4026532000ULL"));

  c.syscall_nrs = {512};
  CHECK_THROWS_AS(counter_cflags(c), Error);
  // A syscall number past the table is the caller's mistake: exit 2 at the edge.
  try {
    counter_cflags(c);
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::usage);
  }
}
