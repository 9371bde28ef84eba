// SPDX-License-Identifier: GPL-2.0-only
// The counting probe, live: processes making an exact number of syscalls are
// counted exactly, under a key whose start ticks equal /proc/<pid>/stat
// field 22. Needs root and BPF: skipped with the reason otherwise, failed
// instead under CI=true.
#include "calibration/experiment/calibrator.h"
#include "calibration/model/error.h"
#include "counting/counter_session.h"
#include "counting/tracker.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsetprobe::test {

namespace {

// A count_subject child driven over pipes.
class Subject {
public:
  Subject(long nr, long calls, long threads) {
    int in[2], out[2];
    REQUIRE(pipe(in) == 0);
    REQUIRE(pipe(out) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      std::string a = std::to_string(nr), b = std::to_string(calls), c = std::to_string(threads);
      const char *bin = std::getenv("COUNT_SUBJECT");
      execl(bin, bin, a.c_str(), b.c_str(), c.c_str(), (char *)nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
    REQUIRE(line().rfind("ready", 0) == 0);
  }
  ~Subject() {
    if (to_ >= 0)
      close(to_);
    if (from_ >= 0)
      close(from_);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  void go() { REQUIRE(write(to_, "g", 1) == 1); }
  void wait_done() { REQUIRE(line().rfind("done", 0) == 0); }
  pid_t pid() const { return pid_; }
  uint64_t start_ticks() const {
    auto st = LiveProcSource().stat(static_cast<uint32_t>(pid_));
    REQUIRE(st);
    return st->start_ticks;
  }

private:
  std::string line() {
    std::string s;
    char c;
    while (read(from_, &c, 1) == 1 && c != '\n')
      s += c;
    return s;
  }
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

// The calibrated offsets (once per run), or nullopt with the test skipped
// (or failed under CI=true).
std::optional<CounterConfig> live_config() {
  static std::optional<CounterConfig> cfg;
  static std::string skip;
  static bool done = false;
  if (!done) {
    done = true;
    if (geteuid() != 0) {
      skip = "not root: the counting probe needs CAP_BPF and CAP_PERFMON";
    } else if (!std::getenv("OFFSETPROBE_BIN") || !std::getenv("COUNT_SUBJECT")) {
      skip = "OFFSETPROBE_BIN / COUNT_SUBJECT not set (run through meson test)";
    } else {
      try {
        CalibrateOptions opt;
        opt.self_exe = std::getenv("OFFSETPROBE_BIN");
        Calibration cal = calibrate(opt);
        const FieldResult *gl = cal.result.find("task_struct.group_leader");
        const FieldResult *sb = cal.result.find("task_struct.start_boottime");
        for (const FieldResult *f : {gl, sb})
          if (!f || f->status != FieldStatus::calibrated || f->validation != Validation::passed)
            throw Error(ErrorKind::incomplete, "calibration of group_leader/start_boottime failed");
        CounterConfig c;
        c.off_group_leader = *gl->offset;
        c.off_start_boottime = *sb->offset;
        c.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
        c.boot_offset_ns = read_timens_offsets().boottime_ns;
        c.pidns = nested_pid_namespace();
        cfg = c;
      } catch (const Error &e) {
        // No BPF here is a skip; anything else is a failure.
        if (e.kind() != ErrorKind::permission && e.kind() != ErrorKind::bpf &&
            e.kind() != ErrorKind::tracing)
          FAIL("calibration: " << e.what());
        skip = std::string("BPF unavailable: ") + e.what();
      }
    }
  }
  if (!cfg) {
    const char *ci = std::getenv("CI");
    if (ci && std::string(ci) == "true")
      FAIL_CHECK("SKIP not allowed under CI=true: " << skip);
    else
      MESSAGE("SKIP: " << skip);
  }
  return cfg;
}

uint64_t count_of(const std::vector<CountEntry> &entries, uint32_t tgid, uint64_t *ticks) {
  uint64_t n = 0;
  int keys = 0;
  for (const auto &e : entries)
    if (e.key.tgid == tgid) {
      n += e.count;
      *ticks = e.key.start_ticks;
      keys++;
    }
  CHECK_MESSAGE(keys <= 1, "process " << tgid << " has " << keys << " keys");
  return n;
}

// getppid: libc's start-up and pthreads never call it; uname: neither.
constexpr long kNr = SYS_getppid;

} // namespace

TEST_CASE("count: one process making exactly N calls") {
  auto cfg = live_config();
  if (!cfg)
    return;
  for (auto hook : {CountHook::raw_tracepoint, CountHook::tracepoint}) {
    CAPTURE(to_string(hook));
    cfg->hook = hook;
    cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
    cfg->syscall_names = {"getppid"};
    CounterSession session(*cfg);
    Subject s(kNr, 1000, 0);
    s.go();
    s.wait_done();
    uint64_t ticks = 0;
    CHECK(count_of(session.entries(), static_cast<uint32_t>(s.pid()), &ticks) == 1000);
    CHECK(ticks == s.start_ticks());
  }
}

TEST_CASE("count: two processes at once, two syscalls") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr), SYS_uname};
  cfg->syscall_names = {"getppid", "uname"};
  CounterSession session(*cfg);
  Subject a(kNr, 5000, 0), b(SYS_uname, 7000, 0);
  a.go();
  b.go();
  a.wait_done();
  b.wait_done();
  auto entries = session.entries();
  uint64_t ta = 0, tb = 0;
  CHECK(count_of(entries, static_cast<uint32_t>(a.pid()), &ta) == 5000);
  CHECK(count_of(entries, static_cast<uint32_t>(b.pid()), &tb) == 7000);
  CHECK(ta == a.start_ticks());
  CHECK(tb == b.start_ticks());
}

TEST_CASE("count: threads count under their leader's key") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
  CounterSession session(*cfg);
  // The threads start well after the leader: a probe that keyed by the
  // calling thread's own start time would split the count.
  Subject s(kNr, 2500, 4);
  s.go();
  s.wait_done();
  uint64_t ticks = 0;
  CHECK(count_of(session.entries(), static_cast<uint32_t>(s.pid()), &ticks) == 4 * 2500);
  CHECK(ticks == s.start_ticks());
}

TEST_CASE("count: --pid filter counts that process only") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
  Subject a(kNr, 300, 0), b(kNr, 400, 0);
  cfg->filter_tgid = static_cast<uint32_t>(b.pid());
  CounterSession session(*cfg);
  a.go();
  b.go();
  a.wait_done();
  b.wait_done();
  auto entries = session.entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].key.tgid == static_cast<uint32_t>(b.pid()));
  CHECK(entries[0].count == 400);
}

TEST_CASE("count: full maps drop and count the drops") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
  cfg->max_entries = 1; // one live thread, one process
  CounterSession session(*cfg);
  Subject a(kNr, 100, 0); // takes the one tasks entry
  a.go();
  a.wait_done();
  auto b = std::make_unique<Subject>(kNr, 150, 0); // counted directly in counts
  b->go();
  b->wait_done();
  {
    Subject c(kNr, 200, 0); // nowhere to go: dropped, and the drops counted
    c.go();
    c.wait_done();
  }
  uint64_t ticks = 0;
  auto entries = session.entries();
  CHECK(count_of(entries, static_cast<uint32_t>(a.pid()), &ticks) == 100);
  CHECK(count_of(entries, static_cast<uint32_t>(b->pid()), &ticks) == 150);
  CHECK(session.drops().map_full == 200);
  // Draining the entry of a process that is gone (what `count` does) makes
  // room again.
  CountKey bkey{static_cast<uint32_t>(b->pid()), ticks};
  b.reset();
  CHECK(session.take(bkey) == 150);
  Subject d(kNr, 50, 0);
  d.go();
  d.wait_done();
  CHECK(count_of(session.entries(), static_cast<uint32_t>(d.pid()), &ticks) == 50);
  CHECK(session.drops().map_full == 200);
}

TEST_CASE("count: an exited thread's count stays with its process") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
  CounterSession session(*cfg);
  uint32_t pid = 0;
  uint64_t ticks = 0, proc_ticks = 0;
  {
    Subject s(kNr, 300, 3); // three threads that exit before the process
    pid = static_cast<uint32_t>(s.pid());
    proc_ticks = s.start_ticks();
    s.go();
    s.wait_done();
    CHECK(count_of(session.entries(), pid, &ticks) == 900);
  }
  // Gone: every thread's count moved to the process key at its exit.
  CHECK(count_of(session.entries(), pid, &ticks) == 900);
  CHECK(ticks == proc_ticks);
  CHECK(session.take({pid, ticks}) == 900);
}

TEST_CASE("count: the tracker checks live keys against /proc") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
  CounterSession session(*cfg);
  CountTracker tracker(1); // re-read every key on every update
  LiveProcSource proc;
  uint32_t pid = 0;
  {
    Subject s(kNr, 10, 0);
    pid = static_cast<uint32_t>(s.pid());
    s.go();
    s.wait_done();
    CHECK(tracker.update(session.entries(), proc).empty());
    bool found = false;
    for (const auto &r : tracker.rows())
      if (r.key.tgid == pid) {
        found = true;
        CHECK(r.check == KeyCheck::ok);
        CHECK(r.comm == "count_subject");
        CHECK(r.count == 10);
      }
    CHECK(found);
  }
  // The subject has exited and been reaped: its key is drained, its count kept.
  auto gone = tracker.update(session.entries(), proc);
  bool drained = false;
  for (const auto &k : gone) {
    drained |= k.tgid == pid;
    tracker.settle(k, session.take(k));
  }
  CHECK(drained);
  for (const auto &r : tracker.rows())
    if (r.key.tgid == pid) {
      CHECK(r.check == KeyCheck::exited);
      CHECK(r.count == 10);
    }
}

TEST_CASE("count: a wrong offset shows up as a mismatch at once") {
  auto cfg = live_config();
  if (!cfg)
    return;
  cfg->syscall_nrs = {static_cast<uint32_t>(kNr)};
  // Two fields on: inside task_struct, readable, and not the start time.
  cfg->off_start_boottime += 16;
  CounterSession session(*cfg);
  CountTracker tracker;
  LiveProcSource proc;
  Subject s(kNr, 10, 0);
  s.go();
  s.wait_done();
  tracker.update(session.entries(), proc);
  bool found = false;
  for (const auto &r : tracker.rows())
    if (r.key.tgid == static_cast<uint32_t>(s.pid())) {
      found = true;
      CHECK(r.count == 10);
      CHECK(r.key.start_ticks != s.start_ticks());
      CHECK(r.check == KeyCheck::mismatch);
    }
  CHECK(found);
  CHECK(tracker.mismatches() >= 1);
}

} // namespace offsetprobe::test
