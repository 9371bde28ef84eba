// SPDX-License-Identifier: GPL-2.0-only
// Cost per syscall event of the counting probe, all in one run: the same
// tight syscall loop with no probe, with a bare tgid-keyed counter on the same
// hook (the floor), with the probe, and with bpftrace one-liners. Rounds are
// interleaved and the added cost is taken per round against that round's
// no-probe loop, so that drift on a shared machine cancels out.
//
//   bench_count --group-leader OFF --start-boottime OFF [--calls N] [--rounds R]
//               [--bpftrace PATH|none]
//
// Prints a Markdown table on stdout. Needs root.
#include "counting/counter_session.h"

#include "bench_bare.skel.h"
#include "counter.h"

#include <CLI/CLI.hpp>
#include <bpf/libbpf.h>

#include <algorithm>
#include <random>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

using namespace offsetprobe;

namespace {

constexpr long kTarget = SYS_getppid; // counted
constexpr long kOther = SYS_getuid;   // not counted: what the hook costs everyone else

// CPU time of this thread (user + system): time on a core, so that other
// jobs on the shared cores do not count.
int64_t cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double loop_ns(long nr, long calls) {
  int64_t t0 = cpu_ns();
  for (long i = 0; i < calls; i++)
    syscall(nr);
  return double(cpu_ns() - t0) / double(calls);
}

// The floor: tgid-keyed counter on the given hook.
class Bare {
public:
  explicit Bare(CountHook hook) {
    skel_ = op_bench_bare__open();
    if (!skel_)
      throw std::runtime_error("bench_bare: open");
    skel_->rodata->syscalls[kTarget / 64] |= 1ull << (kTarget % 64);
    bool raw = hook == CountHook::raw_tracepoint;
    bpf_program__set_autoload(skel_->progs.bare_raw, raw);
    bpf_program__set_autoload(skel_->progs.bare_tp, !raw);
    if (op_bench_bare__load(skel_))
      throw std::runtime_error("bench_bare: load");
    link_ =
        raw ? bpf_program__attach_raw_tracepoint(skel_->progs.bare_raw, "sys_enter")
            : bpf_program__attach_tracepoint(skel_->progs.bare_tp, "syscalls", "sys_enter_getppid");
    if (!link_)
      throw std::runtime_error("bench_bare: attach");
  }
  ~Bare() {
    bpf_link__destroy(link_);
    op_bench_bare__destroy(skel_);
  }
  uint64_t count() const {
    uint32_t tgid = static_cast<uint32_t>(getpid());
    uint64_t v = 0;
    bpf_map__lookup_elem(skel_->maps.counts, &tgid, sizeof(tgid), &v, sizeof(v), 0);
    return v;
  }

private:
  op_bench_bare *skel_ = nullptr;
  bpf_link *link_ = nullptr;
};

// A bpftrace one-liner, running until destroyed.
class Bpftrace {
public:
  Bpftrace(const std::string &bin, const std::string &prog) {
    int out[2];
    if (pipe(out))
      throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      close(out[0]);
      // -B line: stdout is a pipe, and "ready" must arrive before exit.
      execlp(bin.c_str(), bin.c_str(), "-B", "line", "-e", prog.c_str(), (char *)nullptr);
      _exit(127);
    }
    close(out[1]);
    out_ = out[0];
    // BEGIN runs once every probe is attached.
    std::string line;
    char c;
    while (read(out_, &c, 1) == 1) {
      if (c != '\n') {
        line += c;
        continue;
      }
      if (line == "ready") {
        // bpftrace keeps working for a moment after BEGIN (freeing what it
        // parsed); let it settle so that the loop measures the probe only.
        usleep(500'000);
        return;
      }
      line.clear();
    }
    throw std::runtime_error("bpftrace did not start: " + prog);
  }
  ~Bpftrace() {
    kill(pid_, SIGINT);
    char buf[4096];
    while (read(out_, buf, sizeof(buf)) > 0)
      ;
    close(out_);
    int st = 0;
    waitpid(pid_, &st, 0);
  }

private:
  pid_t pid_ = -1;
  int out_ = -1;
};

struct Config {
  std::string name, hook, what;
  // Sets up the probe; the returned object's destruction tears it down.
  std::function<std::shared_ptr<void>()> attach;
  std::function<uint64_t(const std::shared_ptr<void> &)> count; // events seen, if known
};

std::string fmt1(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f", v);
  return b;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The configurations measured: no probe, the bare floors, the counting
// probe on both hooks, and bpftrace's equivalents unless `bpftrace` is none.
std::vector<Config> make_configs(uint32_t gl, uint32_t sb, const std::string &bpftrace) {
  uint64_t tick_ns = 1'000'000'000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  auto probe = [&](CountHook hook, bool no_cache = false) {
    return [=]() -> std::shared_ptr<void> {
      CounterConfig c;
      c.off_group_leader = gl;
      c.off_start_boottime = sb;
      c.tick_ns = tick_ns;
      c.syscall_nrs = {static_cast<uint32_t>(kTarget)};
      c.syscall_names = {"getppid"};
      c.hook = hook;
      c.no_task_cache = no_cache;
      return std::make_shared<CounterSession>(c);
    };
  };
  auto probe_count = [](const std::shared_ptr<void> &p) {
    uint64_t n = 0;
    for (const auto &e : static_cast<CounterSession *>(p.get())->entries())
      if (e.key.tgid == static_cast<uint32_t>(getpid()))
        n += e.count;
    return n;
  };
  auto bare = [](CountHook hook) {
    return [=]() -> std::shared_ptr<void> { return std::make_shared<Bare>(hook); };
  };
  auto bare_count = [](const std::shared_ptr<void> &p) {
    return static_cast<Bare *>(p.get())->count();
  };
  auto none_count = [](const std::shared_ptr<void> &) { return uint64_t(0); };

  std::vector<Config> configs = {
      {"none", "-", "no probe", [] { return std::shared_ptr<void>(); }, none_count},
      {"bare", "raw_tracepoint", "tgid-keyed counter (floor)", bare(CountHook::raw_tracepoint),
       bare_count},
      {"probe", "raw_tracepoint", "offsetprobe counter: (tgid, start ticks) key",
       probe(CountHook::raw_tracepoint), probe_count},
      {"probe-nocache", "raw_tracepoint", "same key, read on every event (no per-thread cache)",
       probe(CountHook::raw_tracepoint, true), probe_count},
      {"bare", "tracepoint", "tgid-keyed counter (floor)", bare(CountHook::tracepoint), bare_count},
      {"probe", "tracepoint", "offsetprobe counter: (tgid, start ticks) key",
       probe(CountHook::tracepoint), probe_count},
  };
  if (bpftrace != "none") {
    auto bt = [=](std::string prog) {
      prog = "BEGIN { printf(\"ready\\n\"); } " + prog;
      return [=]() -> std::shared_ptr<void> { return std::make_shared<Bpftrace>(bpftrace, prog); };
    };
    configs.push_back({"bpftrace", "tracepoint", "@[pid] = count()",
                       bt("tracepoint:syscalls:sys_enter_getppid { @[pid] = count(); }"),
                       none_count});
    configs.push_back({"bpftrace", "tracepoint",
                       "@[pid, curtask->group_leader->start_boottime / " + std::to_string(tick_ns) +
                           "] = count() (needs BTF)",
                       bt("tracepoint:syscalls:sys_enter_getppid { @[pid, "
                          "curtask->group_leader->start_boottime / " +
                          std::to_string(tick_ns) + "] = count(); }"),
                       none_count});
  }

  return configs;
}

// Per configuration, per round: the added ns on the counted syscall, on the
// uncounted one, and the loop's own ns; or why the configuration failed.
struct Measured {
  std::vector<std::vector<double>> target, other, abs_target;
  std::vector<std::string> errors;
};

Measured run_rounds(const std::vector<Config> &configs, long calls, int rounds) {
  Measured m;
  auto &target = m.target, &other = m.other, &abs_target = m.abs_target;
  auto &errors = m.errors;
  target.resize(configs.size());
  other.resize(configs.size());
  abs_target.resize(configs.size());
  errors.resize(configs.size());
  // Each round runs the configurations in a new random order, each one right
  // after a no-probe loop of its own: the added cost is the difference of the
  // two adjacent loops, so slow drift and order effects cancel.
  std::mt19937 rng(12345);
  std::vector<size_t> order;
  for (size_t i = 1; i < configs.size(); i++)
    order.push_back(i);
  for (int r = 0; r < rounds; r++) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      if (!errors[i].empty())
        continue;
      try {
        loop_ns(kTarget, calls / 20); // warm up
        double base_t = loop_ns(kTarget, calls);
        double base_o = loop_ns(kOther, calls);
        abs_target[0].push_back(base_t);
        auto handle = configs[i].attach();
        loop_ns(kTarget, calls / 20);
        double t = loop_ns(kTarget, calls);
        double o = loop_ns(kOther, calls);
        uint64_t seen = configs[i].count(handle);
        if (configs[i].name != "bpftrace") {
          uint64_t want = uint64_t(calls) + uint64_t(calls / 20);
          if (seen != want)
            std::fprintf(stderr, "warning: %s/%s counted %llu of %llu calls\n",
                         configs[i].name.c_str(), configs[i].hook.c_str(),
                         static_cast<unsigned long long>(seen),
                         static_cast<unsigned long long>(want));
        }
        abs_target[i].push_back(t);
        target[i].push_back(t - base_t);
        other[i].push_back(o - base_o);
      } catch (const std::exception &e) {
        errors[i] = e.what();
      }
    }
    std::fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
  }

  return m;
}

// The Markdown table of the measurements.
void print_table(const std::vector<Config> &configs, const Measured &m, long calls, int rounds) {
  const auto &target = m.target, &other = m.other, &abs_target = m.abs_target;
  const auto &errors = m.errors;
  auto min_of = [](const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); };
  auto find = [&](const std::string &name, const std::string &hook) -> std::optional<size_t> {
    for (size_t i = 0; i < configs.size(); i++)
      if (configs[i].name == name && configs[i].hook == hook && errors[i].empty())
        return i;
    return std::nullopt;
  };
  std::printf("%ld calls of getppid per loop, %d rounds (configurations in random order, "
              "each right after a no-probe loop), medians; added = loop with probe - the "
              "no-probe loop before it. `other` = added cost on getuid, which "
              "is not counted.\n\n",
              calls, rounds);
  std::printf("| config | hook | what | ns/call | added ns/event | x bare (same hook) | x bare, "
              "fastest loops | added ns on other syscall |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < configs.size(); i++) {
    const auto &c = configs[i];
    if (!errors[i].empty()) {
      std::printf("| %s | %s | %s | failed: %s | | | | |\n", c.name.c_str(), c.hook.c_str(),
                  c.what.c_str(), errors[i].c_str());
      continue;
    }
    double added = median(target[i]);
    std::string ratio = "-", ratio_min = "-";
    // bpftrace attaches to the per-syscall tracepoint; compare with that floor.
    if (auto f = find("bare", c.hook); i > 0 && f) {
      char b[32];
      std::snprintf(b, sizeof(b), "%.2f", added / median(target[*f]));
      ratio = b;
      // Fastest loop of each: interference only ever adds time.
      double none_min = min_of(abs_target[0]);
      std::snprintf(b, sizeof(b), "%.2f",
                    (min_of(abs_target[i]) - none_min) / (min_of(abs_target[*f]) - none_min));
      ratio_min = b;
    }
    std::printf("| %s | %s | %s | %.1f | %s | %s | %s | %s |\n", c.name.c_str(), c.hook.c_str(),
                c.what.c_str(), median(abs_target[i]), i ? fmt1(added).c_str() : "-", ratio.c_str(),
                ratio_min.c_str(), i ? fmt1(median(other[i])).c_str() : "-");
  }
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"bench_count: cost per syscall event of the counting probe"};
  uint32_t gl = 0, sb = 0;
  long calls = 2'000'000;
  int rounds = 5;
  std::string bpftrace = "bpftrace";
  app.add_option("--group-leader", gl, "task_struct.group_leader offset")->required();
  app.add_option("--start-boottime", sb, "task_struct.start_boottime offset")->required();
  app.add_option("--calls", calls, "Syscalls per loop");
  app.add_option("--rounds", rounds, "Rounds (each runs every configuration once)");
  app.add_option("--bpftrace", bpftrace, "bpftrace binary, or none");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_print([](libbpf_print_level, const char *, va_list) { return 0; });

  std::vector<Config> configs = make_configs(gl, sb, bpftrace);
  print_table(configs, run_rounds(configs, calls, rounds), calls, rounds);
  return 0;
}
