// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe conn`: every TCP connection's life per process, read at
// sock:inet_sock_set_state through the calibrated offsets; every record is
// checked against the kernel's own record of the same hit, and its owner key
// against /proc.
#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/capture.h"
#include "calibration/model/error.h"
#include "connwatch/conn_session.h"
#include "connwatch/conn_tracker.h"
#include "counting/counter_session.h"
#include "offsetprobe/cli/bcc_bridge.h"
#include "offsetprobe/usecases/calibrate_cached.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/usecases/conn_offsets.h"
#include "offsetprobe/cli/live_args.h"
#include "offsetprobe/cli/table.h"

#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>

namespace offsetprobe {

namespace {

using namespace conn;

struct ConnArgs {
  uint32_t pid = 0;
  double duration = 0; // 0: until stopped
  double interval = 1;
  bool json = false;
  uint32_t top = 20;
  uint32_t max_connections = OP_CONN_DEFAULT_ENTRIES;
  std::string backend = "libbpf";
  std::string kernel_headers;
};

template <typename T> nlohmann::json opt(const std::optional<T> &v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

const char *owner_how(uint32_t how) {
  switch (how) {
  case OP_OWNER_CONNECT:
    return "connect";
  case OP_OWNER_CLOSE:
    return "close";
  case OP_OWNER_OTHER_NS:
    return "other-pid-namespace";
  }
  return "unknown";
}

std::string fmt_bytes(const std::optional<uint64_t> &v) {
  return v ? std::to_string(*v) : "-";
}

std::string fmt_u32(const std::optional<uint32_t> &v) {
  return v ? std::to_string(*v) : "-";
}

// A record as it is reported.
struct Shown {
  ConnRecord rec;
  OwnerCheck owner_check = OwnerCheck::unknown;
};

nlohmann::json record_json(const Shown &s) {
  const ConnRecord &r = s.rec;
  nlohmann::json j = {
      {"type", r.kind == OP_CONN_OPEN ? "open" : "close"},
      {"pid", r.owner.known() ? nlohmann::json(r.owner.tgid) : nlohmann::json(nullptr)},
      {"tid", r.owner.known() ? nlohmann::json(r.owner.tid) : nlohmann::json(nullptr)},
      {"start_ticks",
       r.owner.known() ? nlohmann::json(r.owner.start_ticks) : nlohmann::json(nullptr)},
      {"comm", r.owner.known() ? nlohmann::json(r.owner.comm) : nlohmann::json(nullptr)},
      {"owner", owner_how(r.owner.how)},
      {"owner_check", to_string(s.owner_check)},
      {"family", r.family == AF_INET6  ? "ipv6"
                 : r.family == AF_INET ? "ipv4"
                                       : "?"},
      {"local", r.local.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.local)},
      {"lport", r.lport},
      {"remote", r.remote.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.remote)},
      {"rport", r.rport},
      {"netns", opt(r.netns)},
      {"oldstate", tcp_state_name(r.oldstate)},
      {"newstate", tcp_state_name(r.newstate)},
      {"check", r.ok() ? "ok" : "mismatch"},
      {"compared", r.compared},
      {"mismatches", r.mismatches}};
  if (r.kind == OP_CONN_CLOSE) {
    j["bytes_received"] = opt(r.bytes_received);
    j["bytes_acked"] = opt(r.bytes_acked);
    j["segs_in"] = opt(r.segs_in);
    j["segs_out"] = opt(r.segs_out);
    j["total_retrans"] = opt(r.total_retrans);
    j["srtt_us"] = opt(r.srtt_us);
    // TCP_INFO's tcpi_rtt and `ss -ti`'s rtt: srtt_us is kept shifted by 3.
    j["rtt_us"] = r.srtt_us ? nlohmann::json(*r.srtt_us >> 3) : nlohmann::json(nullptr);
    j["duration_s"] =
        r.duration_ns ? nlohmann::json(double(*r.duration_ns) / 1e9) : nlohmann::json(nullptr);
  }
  return j;
}

class Reporter {
public:
  explicit Reporter(const ConnArgs &a) : args_(a), tty_(isatty(STDOUT_FILENO) == 1) {}

  void record(const Shown &s) {
    if (args_.json) {
      std::cout << record_json(s).dump() << '\n';
      return;
    }
    if (s.rec.kind == OP_CONN_CLOSE) {
      recent_.push_back(s);
      while (args_.top && recent_.size() > args_.top)
        recent_.pop_front();
    }
  }

  void interval(const ConnTracker &t, uint64_t open, const ConnDrops &d, double elapsed_s) {
    if (args_.json) {
      std::cout << nlohmann::json{{"type", "interval"},    {"elapsed_s", elapsed_s},
                                  {"open", open},          {"opened", t.opened()},
                                  {"closed", t.closed()},  {"mismatches", t.mismatches()},
                                  {"drops", drops_json(d)}}
                       .dump()
                << std::endl;
      return;
    }
    if (tty_)
      std::fputs("\033[H\033[2J", stdout);
    std::printf("conn: %.1f s, %llu open, %llu opened, %llu closed, %llu records disagree with "
                "the kernel's\n",
                elapsed_s, (unsigned long long)open, (unsigned long long)t.opened(),
                (unsigned long long)t.closed(), (unsigned long long)t.mismatches());
    print_drops(d);
    print_recent();
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }

  void summary(const ConnTracker &t, uint64_t open, const ConnDrops &d, double elapsed_s,
               const char *why) {
    if (args_.json) {
      nlohmann::json procs = nlohmann::json::array();
      for (const auto &p : t.processes())
        procs.push_back({{"pid", p.tgid ? nlohmann::json(p.tgid) : nlohmann::json(nullptr)},
                         {"start_ticks", p.start_ticks},
                         {"comm", p.comm},
                         {"connections", p.connections},
                         {"bytes_received", p.bytes_received},
                         {"bytes_acked", p.bytes_acked},
                         {"total_retrans", p.total_retrans},
                         {"mismatches", p.mismatches}});
      std::cout << nlohmann::json{{"type", "summary"},    {"final", true},
                                  {"stopped_by", why},    {"elapsed_s", elapsed_s},
                                  {"open", open},         {"opened", t.opened()},
                                  {"closed", t.closed()}, {"mismatches", t.mismatches()},
                                  {"processes", procs},   {"drops", drops_json(d)}}
                       .dump()
                << std::endl;
      return;
    }
    std::printf("summary: %llu connections closed in %.1f s, %llu still open (stopped by %s)\n",
                (unsigned long long)t.closed(), elapsed_s, (unsigned long long)open, why);
    Table tab({"PID", "COMM", "CONNS", "RX_BYTES", "ACKED", "RETRANS", "CHECK"});
    for (const auto &p : t.processes())
      tab.add({p.tgid ? std::to_string(p.tgid) : "-", p.comm, std::to_string(p.connections),
               std::to_string(p.bytes_received), std::to_string(p.bytes_acked),
               std::to_string(p.total_retrans),
               p.mismatches ? std::to_string(p.mismatches) + " MISMATCH" : "ok"});
    tab.print(stdout);
    if (t.mismatches())
      std::printf("warning: %llu records disagree with the tracepoint's own record: the offsets "
                  "may be wrong (run offsetprobe verify)\n",
                  (unsigned long long)t.mismatches());
    print_drops(d);
    std::fflush(stdout);
  }

private:
  static nlohmann::json drops_json(const ConnDrops &d) {
    return {{"map_full", d.map_full}, {"ringbuf", d.ringbuf}, {"record", d.record}};
  }

  void print_drops(const ConnDrops &d) const {
    if (d.map_full)
      std::printf("warning: %llu sockets not followed: the map was full (raise "
                  "--max-connections, now %u)\n",
                  (unsigned long long)d.map_full, args_.max_connections);
    if (d.ringbuf)
      std::printf("warning: %llu events lost: the ring buffer was full\n",
                  (unsigned long long)d.ringbuf);
    if (d.record)
      std::printf("warning: %llu events lost: the tracepoint record could not be read\n",
                  (unsigned long long)d.record);
  }

  void print_recent() const {
    Table tab({"PID", "COMM", "LOCAL", "REMOTE", "NETNS", "RX", "ACKED", "SEGS_IN", "SEGS_OUT",
               "RETR", "RTT_US", "DUR_S", "CHECK"});
    for (const auto &s : recent_) {
      const ConnRecord &r = s.rec;
      char dur[32] = "-";
      if (r.duration_ns)
        std::snprintf(dur, sizeof(dur), "%.3f", double(*r.duration_ns) / 1e9);
      std::string check = r.ok() ? "ok" : "MISMATCH";
      if (s.owner_check == OwnerCheck::mismatch)
        check += ",OWNER?";
      tab.add({r.owner.known() ? std::to_string(r.owner.tgid) : "-",
               r.owner.known() ? r.owner.comm : "-", endpoint(r.local, r.family, r.lport),
               endpoint(r.remote, r.family, r.rport), fmt_u32(r.netns), fmt_bytes(r.bytes_received),
               fmt_bytes(r.bytes_acked), fmt_u32(r.segs_in), fmt_u32(r.segs_out),
               fmt_u32(r.total_retrans), r.srtt_us ? std::to_string(*r.srtt_us >> 3) : "-", dur,
               check});
    }
    tab.print(stdout);
  }

  const ConnArgs &args_;
  bool tty_;
  std::deque<Shown> recent_;
};

// `load` builds the probe: the libbpf object, or (in offsetprobe-bcc,
// --backend bcc) the same connwatch.bpf.c compiled by BCC.
int run_conn(const GlobalOptions &g, const ConnArgs &a, const ObjectLoader &load) {
  const std::atomic<int> &stop = *install_stop_handlers();
  check_bpf_privileges();
  ConnConfig cfg;
  std::string why;
  auto layout = read_record_layout(why);
  if (!layout)
    throw Error(ErrorKind::tracing, "conn: " + why);
  cfg.layout = *layout;
  if (auto ns = nested_pid_namespace()) {
    cfg.use_pidns = true;
    cfg.pidns_dev = ns->dev;
    cfg.pidns_ino = ns->ino;
    log_info(g, "in a pid namespace: owners are reported by their pids there");
  }
  if (a.pid) {
    cfg.filter_tgid = tgid_of(a.pid);
    if (cfg.filter_tgid != a.pid)
      log_info(g, "--pid " + std::to_string(a.pid) + " is a thread of process " +
                      std::to_string(cfg.filter_tgid) + ": watching that process");
  }
  ConnOffsets off = conn_offsets(g);
  for (const auto &m : off.missing)
    log_info(g, "not reported: " + m);
  cfg.sock = off.sock;
  cfg.off_group_leader = off.group_leader;
  cfg.off_start_boottime = off.start_boottime;
  long hz = sysconf(_SC_CLK_TCK);
  cfg.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
  cfg.boot_offset_ns = read_timens_offsets().boottime_ns;
  cfg.max_entries = a.max_connections;
  Known known = known_of(cfg);

  ConnSession session(load, cfg);
  log_info(g, std::string("watching TCP connections at tracepoint sock:inet_sock_set_state") +
                  (a.backend == "bcc" ? " with BCC" : "") + "; Ctrl-C stops");
  Reporter report(a);
  ConnTracker tracker;
  LiveProcSource proc;
  auto on_event = [&](const op_conn_event &e) {
    Shown s{decode(e, cfg.layout, known), OwnerCheck::unknown};
    s.owner_check = check_owner(s.rec.owner, proc);
    if (s.rec.kind == OP_CONN_OPEN)
      tracker.note_open();
    else
      tracker.add(s.rec);
    report.record(s);
  };

  const int64_t t0 = now_ns(CLOCK_MONOTONIC);
  const int64_t step = std::llround(a.interval * 1e9);
  const int64_t end = a.duration > 0 ? t0 + std::llround(a.duration * 1e9) : INT64_MAX;
  int64_t next = t0 + step;
  while (!stop.load()) {
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= end)
      break;
    if (now >= next) {
      std::cout.flush();
      report.interval(tracker, session.open_count(), session.drops(), double(now - t0) / 1e9);
      while (next <= now)
        next += step;
      continue;
    }
    // Short waits: the stop flag is looked at at least every 100 ms.
    int64_t wait_ms =
        std::min<int64_t>({(next - now) / 1'000'000 + 1, (end - now) / 1'000'000 + 1, 100});
    session.poll(int(wait_ms), on_event);
  }
  // Stop watching first, then take the events already in the ring buffer.
  session.detach();
  while (session.poll(0, on_event) > 0) {
  }
  int64_t now = now_ns(CLOCK_MONOTONIC);
  int sig = stop.load();
  const char *stopped = sig == SIGINT    ? "SIGINT"
                        : sig == SIGTERM ? "SIGTERM"
                        : sig == SIGHUP  ? "SIGHUP"
                                         : "--duration";
  report.summary(tracker, session.open_count(), session.drops(), double(now - t0) / 1e9, stopped);
  return exit_for_signal(sig);
}

} // namespace

void register_conn(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<ConnArgs>();
  auto *cmd = app.add_subcommand(
      "conn", "Watch every TCP connection's life per process, read through the offsets");
  cmd->add_option("-p,--pid", args->pid,
                  "Only connections this process owns (a pid as /proc shows it)")
      ->check(CLI::Range(1u, 4'194'304u));
  cmd->add_option("-d,--duration", args->duration, "Seconds to watch (default: until Ctrl-C)")
      ->check(CLI::Range(0.0, 31'536'000.0));
  cmd->add_option("-i,--interval", args->interval, "Seconds between reports")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_flag("--json", args->json,
                "One JSON object per line on stdout: each connection opened and closed, each "
                "interval, and a final summary");
  cmd->add_option("--top", args->top, "Closed connections in the live table (0: all)");
  cmd->add_option("--max-connections", args->max_connections,
                  "Sockets the kernel map follows at once (more are counted as drops)")
      ->check(CLI::Range(16u, 4'194'304u));
  add_backend_options(cmd, args->backend, args->kernel_headers,
                      "How the probe is loaded: libbpf (prebuilt, the default) or bcc "
                      "(connwatch.bpf.c compiled at run time by libbcc in offsetprobe-bcc, "
                      "offsets as -D macros; needs kernel headers)");
  cmd->callback([args, &g, &run] {
    run = [args, &g] {
      return run_on_backend(g, args->backend, args->kernel_headers, [&](const BccContext *bcc) {
        return run_conn(g, *args, bcc ? bcc->load_conn : conn_libbpf_loader());
      });
    };
  });
}

} // namespace offsetprobe
