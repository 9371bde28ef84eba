// SPDX-License-Identifier: GPL-2.0-only
// Cost per open event of `offsetprobe opens`' probe (bpf/opens.bpf.c),
// against a bare program on the same tracepoint (bench_bare.bpf.c's bare_tp,
// a tgid-keyed counter, on syscalls:sys_exit_openat). A tight loop of
// openat() + close() on a file five directories deep is run with no probe,
// with the bare program, and with the probe without and with the walk of the
// executable's path; the probe's ring buffer is drained by a second thread.
// Rounds are interleaved and each configuration's added cost is taken
// against a no-probe loop run right before it (drift on a shared machine
// cancels out). Times are the looping thread's CPU time.
//
//   bench_opens --calibration CAL.json [--calls N] [--rounds R]
//
// CAL.json: `offsetprobe calibrate --json --fields files,mm`.
// Prints a Markdown table on stdout. Needs root.
#include "calibration/model/result_json.h"
#include "opens/opens_session.h"

#include "bench_bare.skel.h"

#include <CLI/CLI.hpp>
#include <bpf/libbpf.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

using namespace offsetprobe;

namespace {

int64_t cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double loop_ns(const std::string &path, long calls) {
  int64_t t0 = cpu_ns();
  for (long i = 0; i < calls; i++) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd >= 0)
      close(fd);
  }
  return double(cpu_ns() - t0) / double(calls);
}

class Bare {
public:
  Bare() {
    skel_ = op_bench_bare__open();
    if (!skel_)
      throw std::runtime_error("bench_bare: open");
    bpf_program__set_autoload(skel_->progs.bare_raw, false);
    if (op_bench_bare__load(skel_))
      throw std::runtime_error("bench_bare: load");
    link_ = bpf_program__attach_tracepoint(skel_->progs.bare_tp, "syscalls", "sys_exit_openat");
    if (!link_)
      throw std::runtime_error("bench_bare: attach");
  }
  ~Bare() {
    bpf_link__destroy(link_);
    op_bench_bare__destroy(skel_);
  }

private:
  op_bench_bare *skel_ = nullptr;
  bpf_link *link_ = nullptr;
};

// The probe, its ring buffer drained by a thread of its own.
class Probe {
public:
  explicit Probe(OpensConfig cfg)
      : session_(cfg, [this](const void *, size_t) { events_++; }), drain_([this] {
          while (!stop_)
            session_.poll(50);
        }) {}
  ~Probe() {
    stop_ = true;
    drain_.join();
  }

private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> events_{0};
  OpensSession session_;
  std::thread drain_;
};

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"bench_opens: cost per open event of the opens probe"};
  std::string cal_path;
  long calls = 200'000;
  int rounds = 7;
  app.add_option("--calibration", cal_path, "offsetprobe calibrate --json output")->required();
  app.add_option("--calls", calls, "Opens per loop");
  app.add_option("--rounds", rounds, "Rounds (each runs every configuration once)");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_print([](libbpf_print_level, const char *, va_list) { return 0; });

  std::ifstream in(cal_path);
  std::string err;
  CalibrationResult cal;
  const nlohmann::json doc = nlohmann::json::parse(in); // kept: the loop refers into it
  for (const auto &f : doc.at("fields")) {
    auto r = field_from_json(f, err);
    if (!r) {
      std::fprintf(stderr, "bench_opens: %s: %s\n", cal_path.c_str(), err.c_str());
      return 1;
    }
    cal.fields.push_back(*r);
  }
  auto files = file_walk_offsets(cal, err);
  if (!files) {
    std::fprintf(stderr, "bench_opens: %s\n", err.c_str());
    return 1;
  }
  char dir[] = "/tmp/opensbench.XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  std::string path = std::string(dir) + "/a/b/c/file";
  mkdir((std::string(dir) + "/a").c_str(), 0755);
  mkdir((std::string(dir) + "/a/b").c_str(), 0755);
  mkdir((std::string(dir) + "/a/b/c").c_str(), 0755);
  close(open(path.c_str(), O_CREAT | O_WRONLY, 0644));

  auto probe = [&](bool exe) {
    return [=]() -> std::shared_ptr<void> {
      OpensConfig c;
      c.files = *files;
      c.filter_tgid = static_cast<uint32_t>(getpid());
      c.walk_exe = exe;
      c.syscalls = {"openat"};
      return std::make_shared<Probe>(c);
    };
  };
  struct Config {
    std::string name, what;
    std::function<std::shared_ptr<void>()> attach;
  };
  std::vector<Config> configs = {
      {"none", "no probe", [] { return std::shared_ptr<void>(); }},
      {"bare", "tgid-keyed counter on sys_exit_openat (floor)",
       [] { return std::make_shared<Bare>(); }},
      {"opens --no-exe", "the file's path walked, inode, device, mount id; ring buffer",
       probe(false)},
      {"opens", "the same + the executable's path (mm->exe_file walked)", probe(true)},
  };
  std::vector<std::vector<double>> added(configs.size()), abs(configs.size());
  std::mt19937 rng(12345);
  std::vector<size_t> order = {1, 2, 3};
  for (int r = 0; r < rounds; r++) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      loop_ns(path, calls / 20);
      double base = loop_ns(path, calls);
      abs[0].push_back(base);
      auto h = configs[i].attach();
      loop_ns(path, calls / 20);
      double t = loop_ns(path, calls);
      abs[i].push_back(t);
      added[i].push_back(t - base);
    }
    std::fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
  }
  std::string exe(4096, 0);
  exe.resize(std::max<ssize_t>(0, readlink("/proc/self/exe", exe.data(), exe.size())));
  std::printf("%ld openat()+close() of %s (%zu names deep) per loop, %d rounds, medians; "
              "added = loop with probe - the no-probe loop right before it; executable %s.\n\n",
              calls, path.c_str(), size_t(5), rounds, exe.c_str());
  std::printf("| config | what | ns/open+close | added ns/event | added over bare |\n");
  std::printf("|---|---|---:|---:|---:|\n");
  double bare = median(added[1]);
  for (size_t i = 0; i < configs.size(); i++) {
    double a = i ? median(added[i]) : 0;
    std::printf("| %s | %s | %.0f | %s | %s |\n", configs[i].name.c_str(), configs[i].what.c_str(),
                median(abs[i]), i ? std::to_string(int(a + 0.5)).c_str() : "-",
                i > 1 ? std::to_string(int(a - bare + 0.5)).c_str() : "-");
  }
  unlink(path.c_str());
  rmdir((std::string(dir) + "/a/b/c").c_str());
  rmdir((std::string(dir) + "/a/b").c_str());
  rmdir((std::string(dir) + "/a").c_str());
  rmdir(dir);
  return 0;
}
