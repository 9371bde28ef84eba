// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe opens`: every file a process opens, its path resolved in the
// kernel from the struct file (bpf/opens.bpf.c through the file family's
// offsets), each record checked against readlink /proc/<pid>/fd/N while the
// fd is open.
#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/capture.h"
#include "counting/counter_session.h"
#include "counting/syscall_table.h"
#include "offsetprobe/usecases/calibrate_cached.h"
#include "offsetprobe/cli/cli.h"
#include "calibration/model/error.h"
#include "offsetprobe/cli/live_args.h"
#include "opens/open_record.h"
#include "opens/opens_session.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>

#include <signal.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

struct OpensArgs {
  uint32_t pid = 0;
  double duration = 0; // 0: until stopped
  bool json = false;
  bool no_exe = false;
};

// The offset of a calibrated and validated field, else Error(ErrorKind::not_calibrated).
uint32_t trusted(const CalibrationResult &r, const char *name) {
  const FieldResult *f = r.find(name);
  if (!f || f->status != FieldStatus::calibrated || f->validation != Validation::passed ||
      !f->offset)
    throw Error(ErrorKind::not_calibrated,
                std::string(name) + " is not known for this kernel: run offsetprobe calibrate");
  return *f->offset;
}

std::string proc_exe(uint32_t tgid) {
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(tgid) + "/exe").c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Prints each record as it is checked, and the summary.
class OpensReporter {
public:
  explicit OpensReporter(bool json) : json_(json) {}

  void record(const OpenRecord &r, PathCheck c, const std::string &exe, const char *exe_from) {
    checks_[c]++;
    total_++;
    auto sc = syscall_name(r.syscall_nr);
    std::string sys = sc ? std::string(*sc) : std::to_string(r.syscall_nr);
    if (json_) {
      nlohmann::json j = {{"pid", r.tgid},
                          {"tid", r.tid},
                          {"start_ticks", r.start_ticks},
                          {"comm", r.comm},
                          {"exe", exe},
                          {"exe_from", exe_from},
                          {"syscall", sys},
                          {"fd", r.fd},
                          {"path", r.path},
                          {"truncated", r.truncated()},
                          {"depth", r.depth},
                          {"ino", r.ino},
                          {"dev", r.dev},
                          {"mnt_id", r.mnt_id},
                          {"flags", r.f_flags},
                          {"mode", r.mode},
                          {"check", to_string(c)}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      return;
    }
    if (!header_) {
      std::printf("%-7s %-16s %-8s %4s  %-10s %s\n", "PID", "COMM", "SYSCALL", "FD", "CHECK",
                  "PATH");
      header_ = true;
    }
    std::string check = c == PathCheck::mismatch ? "MISMATCH" : to_string(c);
    std::printf("%-7u %-16s %-8s %4d  %-10s %s%s\n", r.tgid, r.comm.c_str(), sys.c_str(), r.fd,
                check.c_str(), r.truncated() ? "..." : "", r.path.c_str());
  }

  void bad_event(const std::string &why) {
    bad_++;
    log_warn("opens: " + why);
  }

  void summary(double elapsed_s, const OpensDrops &d, const char *why) {
    if (json_) {
      nlohmann::json checks = nlohmann::json::object();
      for (auto c : {PathCheck::ok, PathCheck::deleted, PathCheck::truncated, PathCheck::mismatch,
                     PathCheck::reused, PathCheck::closed, PathCheck::incomplete})
        checks[to_string(c)] = checks_[c];
      std::cout << nlohmann::json{{"final", true},
                                  {"stopped_by", why},
                                  {"elapsed_s", elapsed_s},
                                  {"events", total_},
                                  {"checks", checks},
                                  {"malformed", bad_},
                                  {"drops",
                                   {{"ringbuf", d.ringbuf}, {"other_pid_namespace", d.other_ns}}}}
                       .dump()
                << std::endl;
      return;
    }
    std::printf("summary: %llu opens in %.1f s (stopped by %s):", (unsigned long long)total_,
                elapsed_s, why);
    for (const auto &[c, n] : checks_)
      std::printf(" %s %llu", to_string(c), (unsigned long long)n);
    std::printf("\n");
    if (checks_[PathCheck::mismatch])
      std::printf("warning: %llu paths differ from readlink /proc/<pid>/fd/N for the same file: "
                  "the offsets may be wrong (run offsetprobe verify)\n",
                  (unsigned long long)checks_[PathCheck::mismatch]);
    if (d.ringbuf)
      std::printf("warning: %llu events lost: the ring buffer was full\n",
                  (unsigned long long)d.ringbuf);
    if (d.other_ns)
      std::printf("note: %llu opens of processes outside this pid namespace not shown\n",
                  (unsigned long long)d.other_ns);
    std::fflush(stdout);
  }

private:
  bool json_;
  bool header_ = false;
  uint64_t total_ = 0, bad_ = 0;
  std::map<PathCheck, uint64_t> checks_;
};

int run_opens(const GlobalOptions &g, const OpensArgs &a) {
  const std::atomic<int> &stop = *install_stop_handlers();
  check_bpf_privileges();
  OpensConfig cfg;
  if (auto ns = nested_pid_namespace())
    cfg.pidns = std::make_pair(ns->dev, ns->ino);
  cfg.self_tgid = static_cast<uint32_t>(getpid());
  if (cfg.pidns) // the program sees global tgids: ours in this namespace is not one
    cfg.self_tgid = 0;
  if (a.pid)
    cfg.filter_tgid = tgid_of(a.pid);

  CalibrateOptions opt;
  std::string err;
  auto sel = FieldSelection::parse(file_walk_fields(), err);
  if (!sel)
    throw Error(ErrorKind::failure, "opens: " + err);
  opt.fields = *sel;
  CalibrateOutcome out = calibrate_cached(g, opt);
  const CalibrationResult &cal = out.entry.calibration;
  auto files = file_walk_offsets(cal, err);
  if (!files)
    throw Error(ErrorKind::not_calibrated,
                "the file family's offsets are not known for this kernel (" + err +
                    "): run offsetprobe calibrate --fields " + file_walk_fields() + " to see why");
  cfg.files = *files;
  cfg.off_group_leader = trusted(cal, "task_struct.group_leader");
  cfg.off_start_boottime = trusted(cal, "task_struct.start_boottime");
  long hz = sysconf(_SC_CLK_TCK);
  cfg.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
  cfg.boot_offset_ns = read_timens_offsets().boottime_ns;
  cfg.walk_exe = !a.no_exe;

  OpensReporter report(a.json);
  LiveFdSource fds;
  // Checked at once, while the opener most likely still holds the fd.
  auto on_event = [&](const void *data, size_t size) {
    std::string why;
    auto r = decode_open_event(data, size, why);
    if (!r) {
      report.bad_event(why);
      return;
    }
    PathCheck c = check_record(*r, fds.fd(r->tgid, r->tid, r->fd));
    std::string exe = r->exe;
    const char *from = "kernel";
    if (!r->exe_complete()) { // the kernel gave no whole path: /proc, if the process lives
      exe = proc_exe(r->tgid);
      from = exe.empty() ? "none" : "proc";
    }
    report.record(*r, c, exe, from);
  };
  OpensSession session(cfg, on_event);
  std::string tps;
  for (const auto &t : session.attached())
    tps += (tps.empty() ? "" : ", ") + t;
  log_info(g, "tracing opens on " + tps + "; Ctrl-C stops");

  const int64_t t0 = now_ns(CLOCK_MONOTONIC);
  const int64_t end = a.duration > 0 ? t0 + std::llround(a.duration * 1e9) : INT64_MAX;
  while (!stop.load()) {
    int64_t left_ms = (end - now_ns(CLOCK_MONOTONIC)) / 1'000'000;
    if (left_ms <= 0)
      break;
    int rc = session.poll(static_cast<int>(std::min<int64_t>(left_ms, 200)));
    if (rc < 0 && rc != -EINTR)
      throw Error(ErrorKind::bpf, "opens: polling the ring buffer: " + std::to_string(rc));
  }
  session.detach();
  session.drain();
  int sig = stop.load();
  const char *why = sig == SIGINT    ? "SIGINT"
                    : sig == SIGTERM ? "SIGTERM"
                    : sig == SIGHUP  ? "SIGHUP"
                                     : "--duration";
  report.summary(double(now_ns(CLOCK_MONOTONIC) - t0) / 1e9, session.drops(), why);
  return exit_for_signal(sig);
}

} // namespace

void register_opens(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<OpensArgs>();
  auto *cmd = app.add_subcommand(
      "opens", "Show every file opened, its path resolved in the kernel, checked against /proc");
  cmd->add_option("-p,--pid", args->pid, "Only this process (a pid as /proc shows it)")
      ->check(CLI::Range(1u, 4'194'304u));
  cmd->add_option("-d,--duration", args->duration, "Seconds to trace (default: until Ctrl-C)")
      ->check(CLI::Range(0.0, 31'536'000.0));
  cmd->add_flag("--json", args->json, "One JSON object per open on stdout (and a final one)");
  cmd->add_flag("--no-exe", args->no_exe,
                "Do not walk the opener's executable path in the kernel (cheaper)");
  cmd->callback([args, &g, &run] { run = [args, &g] { return run_opens(g, *args); }; });
}

} // namespace offsetprobe
