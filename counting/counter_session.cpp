// SPDX-License-Identifier: GPL-2.0-only
#include "counting/counter_session.h"

#include "calibration/error.h"
#include "offsetprobe/exit_codes.h"

#include "counter.h"
#include "counter.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

namespace offsetprobe {

const char *to_string(CountHook h) {
  return h == CountHook::tracepoint ? "tracepoint" : "raw_tracepoint";
}

std::optional<CountHook> count_hook_from_string(const std::string &s) {
  for (auto h : {CountHook::raw_tracepoint, CountHook::tracepoint})
    if (s == to_string(h))
      return h;
  return std::nullopt;
}

std::optional<PidNamespace> nested_pid_namespace() {
  std::ifstream f("/proc/self/status");
  std::string line;
  bool nested = false;
  while (std::getline(f, line)) {
    if (!line.starts_with("NSpid:"))
      continue;
    std::istringstream is(line.substr(6));
    int levels = 0;
    for (long v; is >> v;)
      levels++;
    nested = levels > 1;
  }
  if (!nested)
    return std::nullopt;
  struct stat st {};
  if (stat("/proc/self/ns/pid", &st) != 0)
    throw Fatal(exit_failure, std::string("stat /proc/self/ns/pid: ") + std::strerror(errno));
  return PidNamespace{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

namespace {

int quiet_libbpf(enum libbpf_print_level, const char *fmt, va_list args) {
  static const bool verbose = getenv("OFFSETPROBE_LIBBPF_DEBUG") != nullptr;
  return verbose ? vfprintf(stderr, fmt, args) : 0;
}

std::string errno_text(int err) {
  err = err < 0 ? -err : err;
  const char *name = strerrorname_np(err);
  return std::string(name ? name : "E?") + " (" + std::strerror(err) + ")";
}

[[noreturn]] void fail(const std::string &what, int err, int code = exit_bpf) {
  err = err < 0 ? -err : err;
  if (err == EPERM || err == EACCES)
    throw Fatal(exit_permission, "counting probe: " + what + ": " + errno_text(err) +
                                     ": run as root with CAP_BPF and CAP_PERFMON");
  throw Fatal(code, "counting probe: " + what + ": " + errno_text(err));
}

} // namespace

struct CounterSession::Impl {
  op_counter *skel = nullptr;
  std::vector<bpf_link *> links;
  void detach() {
    for (auto *l : links)
      bpf_link__destroy(l);
    links.clear();
  }
  ~Impl() {
    detach();
    op_counter__destroy(skel);
  }
};

CounterSession::CounterSession(const CounterConfig &cfg) : impl_(std::make_unique<Impl>()) {
  libbpf_set_print(quiet_libbpf);
  if (cfg.syscall_nrs.empty())
    throw Fatal(exit_usage, "counting probe: no syscall to count");
  if (cfg.tick_ns == 0)
    throw Fatal(exit_failure, "counting probe: tick length is 0");
  auto &s = impl_->skel;
  s = op_counter__open();
  if (!s)
    fail("opening", errno);
  auto *ro = s->rodata;
  ro->off_group_leader = cfg.off_group_leader;
  ro->off_start_boottime = cfg.off_start_boottime;
  ro->tick_ns = cfg.tick_ns;
  ro->boot_offset_ns = cfg.boot_offset_ns;
  ro->filter_tgid = cfg.filter_tgid;
  ro->use_pidns = cfg.pidns ? 1 : 0;
  ro->pidns_dev = cfg.pidns ? cfg.pidns->dev : 0;
  ro->pidns_ino = cfg.pidns ? cfg.pidns->ino : 0;
  for (uint32_t nr : cfg.syscall_nrs) {
    if (nr >= OP_COUNT_MAX_NR)
      throw Fatal(exit_usage, "counting probe: syscall number " + std::to_string(nr) +
                                  " is beyond the filter (" + std::to_string(OP_COUNT_MAX_NR) +
                                  ")");
    ro->syscalls[nr / 64] |= 1ull << (nr % 64);
  }
  if (int err = bpf_map__set_max_entries(s->maps.counts, cfg.max_entries))
    fail("sizing the counts map", err);
  bool raw = cfg.hook == CountHook::raw_tracepoint;
  bpf_program__set_autoload(s->progs.count_raw, raw);
  bpf_program__set_autoload(s->progs.count_tp, !raw);
  if (int err = op_counter__load(s))
    fail("loading", err);
  if (raw) {
    bpf_link *l = bpf_program__attach_raw_tracepoint(s->progs.count_raw, "sys_enter");
    if (!l)
      fail("attaching raw tracepoint sys_enter", errno, exit_tracing);
    impl_->links.push_back(l);
    return;
  }
  if (cfg.syscall_names.size() != cfg.syscall_nrs.size())
    throw Fatal(exit_failure, "counting probe: the tracepoint hook needs every syscall's name");
  for (const auto &name : cfg.syscall_names) {
    std::string tp = "sys_enter_" + name;
    bpf_link *l = bpf_program__attach_tracepoint(s->progs.count_tp, "syscalls", tp.c_str());
    if (!l)
      fail("attaching tracepoint syscalls/" + tp +
               " (is tracefs mounted at /sys/kernel/tracing? or use --hook raw_tracepoint)",
           errno, exit_tracing);
    impl_->links.push_back(l);
  }
}

CounterSession::~CounterSession() = default;

void CounterSession::detach() {
  impl_->detach();
}

std::vector<CountEntry> CounterSession::entries() const {
  std::vector<CountEntry> out;
  int fd = bpf_map__fd(impl_->skel->maps.counts);
  op_count_key key{}, next{};
  op_count_key *prev = nullptr;
  // Keys may be added while we walk; get_next_key restarts from the first key
  // if the previous one was deleted, which only user space does (remove()).
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    uint64_t v = 0;
    if (bpf_map_lookup_elem(fd, &next, &v) == 0)
      out.push_back({{next.tgid, next.start_ticks}, v});
    key = next;
    prev = &key;
  }
  return out;
}

void CounterSession::remove(const CountKey &k) {
  op_count_key key{};
  key.tgid = k.tgid;
  key.start_ticks = k.start_ticks;
  bpf_map_delete_elem(bpf_map__fd(impl_->skel->maps.counts), &key);
}

DropCounts CounterSession::drops() const {
  DropCounts d;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return d;
  std::vector<uint64_t> v(static_cast<size_t>(ncpu));
  int fd = bpf_map__fd(impl_->skel->maps.drops);
  auto sum = [&](uint32_t slot) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(fd, &slot, v.data()) == 0)
      for (auto x : v)
        total += x;
    return total;
  };
  d.map_full = sum(OP_DROP_MAP_FULL);
  d.read_error = sum(OP_DROP_READ);
  d.other_ns = sum(OP_DROP_OTHER_NS);
  return d;
}

} // namespace offsetprobe
