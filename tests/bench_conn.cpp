// SPDX-License-Identifier: GPL-2.0-only
// Cost per sock:inet_sock_set_state event of `offsetprobe conn`'s probe
// against a bare program on the same tracepoint (a per-CPU hit counter),
// and against no program. One process, in a network namespace of its own
// (lo up), makes N loopback connections per round (connect, accept, close
// both: about 9 state moves each); rounds interleave the three modes.
//
// Two figures per mode: the programs' own run time per hit, from the
// kernel's BPF statistics (BPF_ENABLE_STATS: run_time_ns / run_cnt of the
// program, without the tracepoint's record fill, which both share), and the
// wall time per connection of the whole loop (conn's includes draining its
// ring buffer). Medians over rounds.
//
//   bench_conn --calibration FILE.json [--conns N] [--rounds R]
//
// FILE.json: `offsetprobe calibrate --fields net --json`. Prints a Markdown
// table on stdout. Needs root.
#include "connwatch/conn_session.h"

#include "bench_conn_bare.skel.h"

#include <CLI/CLI.hpp>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <optional>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

using namespace offsetprobe;

namespace {

int64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void own_netns() {
  if (unshare(CLONE_NEWNET))
    throw std::runtime_error(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno));
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
    throw std::runtime_error("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
    throw std::runtime_error("SIOCSIFFLAGS lo");
  close(s);
}

// One loopback connection: its whole life, both ends closed.
void one_connection(int lsn, const sockaddr_in &a) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0 || connect(c, reinterpret_cast<const sockaddr *>(&a), sizeof(a)))
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  int s = accept(lsn, nullptr, nullptr);
  if (s < 0)
    throw std::runtime_error("accept");
  close(c); // FIN_WAIT1 -> FIN_WAIT2; the peer CLOSE_WAIT
  close(s); // LAST_ACK -> CLOSE; the client TIME_WAIT -> CLOSE
}

// Run statistics of the BPF programs this process holds an fd of, by name.
struct ProgStats {
  uint64_t run_cnt = 0, run_time_ns = 0;
};
std::map<std::string, ProgStats> own_prog_stats() {
  std::map<std::string, ProgStats> out;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return out;
  while (dirent *e = readdir(d)) {
    int fd = atoi(e->d_name);
    if (fd <= 2)
      continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
      out[info.name] = {info.run_cnt, info.run_time_ns};
  }
  closedir(d);
  return out;
}

class Bare {
public:
  Bare() {
    skel_ = op_bench_conn_bare__open_and_load();
    if (!skel_)
      throw std::runtime_error("bench_conn_bare: open/load");
    link_ = bpf_program__attach_tracepoint(skel_->progs.bare_conn, "sock", "inet_sock_set_state");
    if (!link_)
      throw std::runtime_error("bench_conn_bare: attach");
  }
  ~Bare() {
    bpf_link__destroy(link_);
    op_bench_conn_bare__destroy(skel_);
  }

private:
  op_bench_conn_bare *skel_ = nullptr;
  bpf_link *link_ = nullptr;
};

conn::ConnConfig config_from(const std::string &path) {
  std::ifstream f(path);
  auto j = nlohmann::json::parse(f);
  std::map<std::string, uint32_t> off;
  for (const auto &x : j.at("fields"))
    if (x.value("status", "") == "calibrated" && x.value("validation", "") == "passed")
      off[x.at("name").get<std::string>()] = x.at("offset").get<uint32_t>();
  auto get = [&](const char *n) -> std::optional<uint32_t> {
    auto it = off.find(n);
    return it == off.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  };
  conn::ConnConfig c;
  std::string err;
  auto l = conn::read_record_layout(err);
  if (!l)
    throw std::runtime_error(err);
  c.layout = *l;
  auto &s = c.sock;
  s.family = get("sock_common.skc_family");
  s.sport = get("inet_sock.inet_sport");
  s.dport = get("sock_common.skc_dport");
  s.rcv_saddr = get("sock_common.skc_rcv_saddr");
  s.daddr = get("sock_common.skc_daddr");
  s.v6_rcv_saddr = get("sock_common.skc_v6_rcv_saddr");
  s.v6_daddr = get("sock_common.skc_v6_daddr");
  s.net = get("sock_common.skc_net");
  s.inum = get("net.ns.inum");
  s.bytes_received = get("tcp_sock.bytes_received");
  s.bytes_acked = get("tcp_sock.bytes_acked");
  s.segs_in = get("tcp_sock.segs_in");
  s.segs_out = get("tcp_sock.segs_out");
  s.total_retrans = get("tcp_sock.total_retrans");
  s.srtt = get("tcp_sock.srtt_us");
  auto gl = get("task_struct.group_leader"), sb = get("task_struct.start_boottime");
  if (!gl || !sb || !s.family || !s.sport)
    throw std::runtime_error(path + ": task_struct or sock_common offsets missing");
  c.off_group_leader = *gl;
  c.off_start_boottime = *sb;
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"conn probe benchmark"};
  std::string cal;
  int conns = 2000, rounds = 7;
  app.add_option("--calibration", cal, "offsetprobe calibrate --fields net --json output")
      ->required();
  app.add_option("--conns", conns, "Connections per round");
  app.add_option("--rounds", rounds, "Rounds (each runs every mode)");
  CLI11_PARSE(app, argc, argv);
  try {
    conn::ConnConfig cfg = config_from(cal);
    own_netns();
    int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (stats_fd < 0)
      throw std::runtime_error("BPF_ENABLE_STATS refused");
    int lsn = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(lsn, reinterpret_cast<sockaddr *>(&a), al) || listen(lsn, 64) ||
        getsockname(lsn, reinterpret_cast<sockaddr *>(&a), &al))
      throw std::runtime_error("listener");
    std::map<std::string, std::vector<double>> per_conn_us, per_hit_ns, hits_per_conn;
    const char *modes[] = {"none", "bare", "conn"};
    uint64_t events = 0;
    for (int r = 0; r < rounds; r++) {
      for (int k = 0; k < 3; k++) {
        std::string mode = modes[(k + r) % 3]; // the order rotates
        std::optional<Bare> bare;
        std::optional<conn::ConnSession> session;
        if (mode == "bare")
          bare.emplace();
        if (mode == "conn")
          session.emplace(conn::conn_libbpf_loader(), cfg);
        auto noop = [&](const op_conn_event &) { events++; };
        auto before = own_prog_stats();
        int64_t t0 = wall_ns();
        for (int i = 0; i < conns; i++) {
          one_connection(lsn, a);
          if (session && i % 64 == 63)
            session->poll(0, noop);
        }
        if (session)
          while (session->poll(0, noop) > 0) {
          }
        int64_t t1 = wall_ns();
        auto after = own_prog_stats();
        per_conn_us[mode].push_back(double(t1 - t0) / 1e3 / conns);
        std::string prog = mode == "bare" ? "bare_conn" : mode == "conn" ? "conn_tp" : "";
        if (!prog.empty()) {
          uint64_t cnt = after[prog].run_cnt - before[prog].run_cnt;
          uint64_t ns = after[prog].run_time_ns - before[prog].run_time_ns;
          per_hit_ns[mode].push_back(cnt ? double(ns) / double(cnt) : 0);
          hits_per_conn[mode].push_back(double(cnt) / conns);
        }
      }
    }
    close(stats_fd);
    double none = median(per_conn_us["none"]);
    std::printf("| mode | program run time per hit (BPF stats) | hits per connection | wall "
                "time per connection | vs no program |\n|---|---|---|---|---|\n");
    for (const char *m : modes) {
      std::string mode = m;
      char hit[64] = "-", hpc[64] = "-";
      if (mode != "none") {
        std::snprintf(hit, sizeof(hit), "%.0f ns", median(per_hit_ns[mode]));
        std::snprintf(hpc, sizeof(hpc), "%.1f", median(hits_per_conn[mode]));
      }
      double us = median(per_conn_us[mode]);
      std::printf("| %s | %s | %s | %.1f us | %+.1f us |\n", m, hit, hpc, us, us - none);
    }
    std::printf("\n%d rounds x %d connections per mode; %llu conn events read.\n", rounds, conns,
                static_cast<unsigned long long>(events));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench_conn: %s\n", e.what());
    return 1;
  }
  return 0;
}
