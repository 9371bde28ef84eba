// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe count`: per-process syscall counts keyed by (tgid, start time),
// read through the calibrated offsets; every key is checked against /proc.
#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/capture.h"
#include "counting/counter_session.h"
#include "counting/kernel_names.h"
#include "offsetprobe/cli/bcc_bridge.h"
#include "counting/syscall_table.h"
#include "counting/tracker.h"
#include "offsetprobe/usecases/calibrate_cached.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/usecases/count_offsets.h"
#include "calibration/model/error.h"
#include "offsetprobe/cli/live_args.h"
#include "offsetprobe/cli/table.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

#include <signal.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

struct CountArgs {
  std::vector<std::string> syscalls;
  uint32_t pid = 0;
  double duration = 0; // 0: until stopped
  double interval = 1;
  bool json = false;
  uint32_t max_processes = 65536;
  std::string hook = "auto";
  uint32_t top = 20;
  std::string backend = "libbpf";
  std::string kernel_headers;
};

// Formats and prints intervals and the summary.
class Reporter {
public:
  Reporter(const CountArgs &a, const SyscallSet &set, uint64_t tick_ns)
      : args_(a), set_(set), tick_ns_(tick_ns),
        // Wall clock of boot in the clock our ticks are in (a time namespace
        // shifts CLOCK_BOOTTIME and /proc/<pid>/stat alike).
        boot_wall_ns_(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME)),
        tty_(isatty(STDOUT_FILENO) == 1) {}

  void interval(const CountTracker &t, const DropCounts &d, double elapsed_s, double interval_s) {
    if (args_.json) {
      auto j = json_object(t, d, elapsed_s, interval_s);
      std::cout << j.dump() << std::endl;
      return;
    }
    if (tty_)
      std::fputs("\033[H\033[2J", stdout);
    print_header(t, d, elapsed_s, interval_s);
    print_rows(t, interval_s, args_.top);
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }

  void summary(const CountTracker &t, const DropCounts &d, double elapsed_s, double interval_s,
               const char *why) {
    if (args_.json) {
      auto j = json_object(t, d, elapsed_s, interval_s);
      j["final"] = true;
      j["stopped_by"] = why;
      std::cout << j.dump() << std::endl;
      return;
    }
    std::printf("summary: %s counted for %.1f s (stopped by %s)\n", syscalls_text().c_str(),
                elapsed_s, why);
    print_rows(t, elapsed_s, args_.top, /*rate_is_average=*/true);
    std::printf("total %llu events in %zu processes (%.1f/s)\n",
                static_cast<unsigned long long>(t.total()), t.rows().size(),
                elapsed_s > 0 ? double(t.total()) / elapsed_s : 0.0);
    print_drops(d);
    std::fflush(stdout);
  }

private:
  std::string syscalls_text() const {
    std::string s;
    for (const auto &n : set_.names)
      s += (s.empty() ? "" : ",") + n;
    return s;
  }

  std::string wall(uint64_t ticks, bool iso) const {
    int64_t ns = boot_wall_ns_ + int64_t(ticks * tick_ns_);
    time_t secs = static_cast<time_t>(ns / 1'000'000'000);
    tm tmv{};
    localtime_r(&secs, &tmv);
    char buf[64];
    std::strftime(buf, sizeof(buf), iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tmv);
    char frac[8];
    // Ticks are USER_HZ: the wall time is known to a tick, print hundredths.
    std::snprintf(frac, sizeof(frac), ".%02d", int((ns / 10'000'000) % 100));
    std::string out = std::string(buf) + frac;
    if (iso) {
      std::strftime(buf, sizeof(buf), "%z", &tmv);
      out += buf;
    }
    return out;
  }

  void print_header(const CountTracker &t, const DropCounts &d, double elapsed_s,
                    double interval_s) const {
    uint64_t delta = 0;
    for (const auto &r : t.rows())
      delta += r.delta;
    std::printf("%s: %.1f s, %zu processes, %llu events, %.1f/s now\n", syscalls_text().c_str(),
                elapsed_s, t.rows().size(), static_cast<unsigned long long>(t.total()),
                interval_s > 0 ? double(delta) / interval_s : 0.0);
    print_drops(d);
  }

  void print_drops(const DropCounts &d) const {
    if (d.map_full)
      std::printf("warning: %llu events dropped: the map was full (raise --max-processes, now "
                  "%u)\n",
                  static_cast<unsigned long long>(d.map_full), args_.max_processes);
    if (d.read_error)
      std::printf("warning: %llu events dropped: reading the start time faulted\n",
                  static_cast<unsigned long long>(d.read_error));
    if (d.other_ns)
      std::printf("note: %llu events of processes outside this pid namespace not counted\n",
                  static_cast<unsigned long long>(d.other_ns));
    if (d.names)
      std::printf("warning: %llu process names from the kernel lost (ring buffer full)\n",
                  static_cast<unsigned long long>(d.names));
  }

  void print_rows(const CountTracker &t, double secs, uint32_t top,
                  bool rate_is_average = false) const {
    Table tab({"PID", "START", "COMM", "COUNT", "RATE", "CHECK", "EXE"});
    auto rows = t.rows();
    size_t shown = 0;
    for (const auto &r : rows) {
      if (top && shown == top)
        break;
      shown++;
      double rate = secs > 0 ? double(rate_is_average ? r.count : r.delta) / secs : 0.0;
      char rbuf[32];
      std::snprintf(rbuf, sizeof(rbuf), "%.1f/s", rate);
      std::string check = r.check == KeyCheck::mismatch ? "MISMATCH" : to_string(r.check);
      tab.add({std::to_string(r.key.tgid), wall(r.key.start_ticks, false), r.comm,
               std::to_string(r.count), rbuf, check, r.exe});
    }
    tab.print(stdout);
    if (shown < rows.size())
      std::printf("... %zu more processes (--top 0 shows all)\n", rows.size() - shown);
    if (size_t m = t.mismatches())
      std::printf("warning: %zu keys do not match the start time of the live process with that "
                  "pid: the offsets may be wrong (run offsetprobe verify)\n",
                  m);
  }

  nlohmann::json json_object(const CountTracker &t, const DropCounts &d, double elapsed_s,
                             double interval_s) const {
    nlohmann::json procs = nlohmann::json::array();
    for (const auto &r : t.rows())
      procs.push_back({{"pid", r.key.tgid},
                       {"start_ticks", r.key.start_ticks},
                       {"start", wall(r.key.start_ticks, true)},
                       {"comm", r.comm},
                       {"exe", r.exe},
                       {"name_from", r.name_from},
                       {"count", r.count},
                       {"delta", r.delta},
                       {"rate", interval_s > 0 ? double(r.delta) / interval_s : 0.0},
                       {"check", to_string(r.check)}});
    return {{"time", wall_now()},
            {"elapsed_s", elapsed_s},
            {"interval_s", interval_s},
            {"syscalls", set_.names},
            {"total", t.total()},
            {"processes", procs},
            {"mismatches", t.mismatches()},
            {"drops",
             {{"map_full", d.map_full},
              {"read_error", d.read_error},
              {"other_pid_namespace", d.other_ns},
              {"names", d.names}}}};
  }

  std::string wall_now() const {
    time_t secs = time(nullptr);
    tm tmv{};
    localtime_r(&secs, &tmv);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tmv);
    return buf;
  }

  const CountArgs &args_;
  const SyscallSet &set_;
  uint64_t tick_ns_;
  int64_t boot_wall_ns_;
  bool tty_;
};

// `make_counter` loads the probe: the libbpf object, or (in offsetprobe-bcc,
// --backend bcc) the same counter.bpf.c compiled by BCC.
int run_count(const GlobalOptions &g, const CountArgs &a, const CounterFactory &make_counter) {
  auto resolved = resolve_syscalls(a.syscalls);
  if (!resolved.set)
    throw Error(ErrorKind::usage, "--syscall: " + resolved.error);
  const SyscallSet &set = *resolved.set;
  std::optional<CountHook> hook =
      a.hook == "auto" ? choose_hook(set.names) : count_hook_from_string(a.hook);
  if (!hook)
    throw Error(ErrorKind::usage, "--hook must be auto, raw_tracepoint or tracepoint");

  // The same stop flag as calibrate's (which may run first, for the offsets).
  const std::atomic<int> &stop = *install_stop_handlers();
  check_bpf_privileges();
  CounterConfig cfg;
  cfg.pidns = nested_pid_namespace();
  if (cfg.pidns)
    log_info(g, "in a pid namespace: counting its processes only, by their pids there");
  if (a.pid) {
    cfg.filter_tgid = tgid_of(a.pid);
    if (cfg.filter_tgid != a.pid)
      log_info(g, "--pid " + std::to_string(a.pid) + " is a thread of process " +
                      std::to_string(cfg.filter_tgid) + ": counting that process");
  }

  auto offsets = cached_offsets(g, &stop);
  if (!offsets)
    throw Error(ErrorKind::not_calibrated,
                "the offsets of task_struct.group_leader and task_struct.start_boottime are not "
                "known for this kernel (calibration incomplete or not validated): run offsetprobe "
                "calibrate to see why");
  if (offsets->files && a.backend != "bcc") {
    cfg.names = offsets->files;
    cfg.off_comm = offsets->comm;
    log_info(g, "process names (comm, executable) from the kernel at the first counted call");
  } else {
    log_info(g, "process names from /proc only (processes that exit between two reports show "
                "\"-\"): " +
                    (a.backend == "bcc" ? std::string("the BCC backend has no file family")
                                        : offsets->no_names + "; offsetprobe calibrate --fields "
                                                              "all gives the kernel's names"));
  }
  cfg.off_group_leader = offsets->group_leader;
  cfg.off_start_boottime = offsets->start_boottime;
  long hz = sysconf(_SC_CLK_TCK);
  cfg.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
  cfg.boot_offset_ns = read_timens_offsets().boottime_ns;
  cfg.syscall_nrs = set.nrs;
  cfg.syscall_names = set.names;
  cfg.hook = *hook;
  cfg.max_entries = a.max_processes;

  std::unique_ptr<Counter> counter = make_counter(cfg);
  Counter &session = *counter;
  log_info(g, "counting " + std::to_string(set.nrs.size()) + " syscall(s) on " + to_string(*hook) +
                  (a.backend == "bcc" ? " with BCC" : "") + " (group_leader at " +
                  std::to_string(cfg.off_group_leader) + ", start_boottime at " +
                  std::to_string(cfg.off_start_boottime) + "); Ctrl-C stops");
  Reporter report(a, set, cfg.tick_ns);
  CountTracker tracker;
  LiveProcSource proc;
  auto collect = [&](bool final) {
    for (const auto &n : session.take_names())
      tracker.name(n.key, n.comm, n.exe);
    for (const auto &k : tracker.update(session.entries(), proc, final))
      tracker.settle(k, session.take(k));
  };

  const int64_t t0 = now_ns(CLOCK_MONOTONIC);
  const int64_t step = std::llround(a.interval * 1e9);
  const int64_t end = a.duration > 0 ? t0 + std::llround(a.duration * 1e9) : INT64_MAX;
  int64_t last = t0, next = t0 + step;
  while (!stop.load()) {
    int64_t wake = std::min(next, end);
    timespec ts{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc == EINTR || stop.load())
      break;
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= end)
      break;
    collect(false);
    report.interval(tracker, session.drops(), double(now - t0) / 1e9, double(now - last) / 1e9);
    last = now;
    while (next <= now)
      next += step;
  }
  // Stop counting first, then take the last counts: the summary is final.
  session.detach();
  int64_t now = now_ns(CLOCK_MONOTONIC);
  collect(true);
  int sig = stop.load();
  const char *why = sig == SIGINT    ? "SIGINT"
                    : sig == SIGTERM ? "SIGTERM"
                    : sig == SIGHUP  ? "SIGHUP"
                                     : "--duration";
  report.summary(tracker, session.drops(), double(now - t0) / 1e9, double(now - last) / 1e9, why);
  return exit_for_signal(sig);
}

} // namespace

void register_count(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<CountArgs>();
  auto *cmd = app.add_subcommand(
      "count", "Count syscalls per process, keyed by (tgid, start time), through the offsets");
  cmd->add_option("-s,--syscall", args->syscalls, "Syscalls to count: NAME[,NAME...]")->required();
  cmd->add_option("-p,--pid", args->pid, "Count only this process (a pid as /proc shows it)")
      ->check(CLI::Range(1u, 4'194'304u));
  cmd->add_option("-d,--duration", args->duration, "Seconds to count (default: until Ctrl-C)")
      ->check(CLI::Range(0.0, 31'536'000.0));
  cmd->add_option("-i,--interval", args->interval, "Seconds between reports")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_flag("--json", args->json, "One JSON object per interval on stdout (and a final one)");
  cmd->add_option("--max-processes", args->max_processes,
                  "Processes the kernel map holds at once (events of more are counted as drops)")
      ->check(CLI::Range(16u, 4'194'304u));
  cmd->add_option("--hook", args->hook,
                  "auto (default: tracepoint where tracefs has every syscall's, else "
                  "raw_tracepoint), tracepoint (syscalls:sys_enter_<name>) or raw_tracepoint "
                  "(sys_enter, filtered by number)")
      ->check(CLI::IsMember({"auto", "raw_tracepoint", "tracepoint"}));
  cmd->add_option("--top", args->top, "Rows in the table (0: all)");
  add_backend_options(cmd, args->backend, args->kernel_headers,
                      "How the probe is loaded: libbpf (prebuilt, the default) or bcc "
                      "(counter.bpf.c compiled at run time by libbcc in offsetprobe-bcc, offsets "
                      "as -D macros; needs kernel headers)");
  cmd->callback([args, &g, &run] {
    run = [args, &g] {
      return run_on_backend(g, args->backend, args->kernel_headers, [&](const BccContext *bcc) {
        if (bcc)
          return run_count(g, *args, bcc->make_counter);
        return run_count(g, *args, [](const CounterConfig &c) -> std::unique_ptr<Counter> {
          return std::make_unique<CounterSession>(c);
        });
      });
    };
  });
}

} // namespace offsetprobe
