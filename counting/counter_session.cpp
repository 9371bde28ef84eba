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
#include <map>
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

CountHook choose_hook(const std::vector<std::string> &syscall_names) {
  for (const auto &name : syscall_names) {
    bool found = false;
    for (const char *root :
         {"/sys/kernel/tracing/events/syscalls/", "/sys/kernel/debug/tracing/events/syscalls/"})
      found |= access((std::string(root) + "sys_enter_" + name + "/id").c_str(), R_OK) == 0;
    if (!found)
      return CountHook::raw_tracepoint;
  }
  return CountHook::tracepoint;
}

std::optional<PidNamespace> nested_pid_namespace() {
  // The initial pid namespace has a fixed inode number, PROC_PID_INIT_INO
  // (include/linux/proc_ns.h). NSpid in /proc/self/status cannot tell: with
  // /proc mounted from inside the namespace it shows one level only.
  constexpr uint64_t proc_pid_init_ino = 0xEFFFFFFCu;
  struct stat st {};
  if (stat("/proc/self/ns/pid", &st) != 0)
    throw Fatal(exit_failure, std::string("stat /proc/self/ns/pid: ") + std::strerror(errno));
  if (st.st_ino == proc_pid_init_ino)
    return std::nullopt;
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
  // Counting hooks first, the exit hook last (it was attached first).
  void detach() {
    for (auto it = links.rbegin(); it != links.rend(); ++it)
      bpf_link__destroy(*it);
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
  ro->no_task_cache = cfg.no_task_cache ? 1 : 0;
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
  if (int err = bpf_map__set_max_entries(s->maps.tasks, cfg.max_entries))
    fail("sizing the tasks map", err);
  bool raw = cfg.hook == CountHook::raw_tracepoint;
  bpf_program__set_autoload(s->progs.count_raw, raw);
  bpf_program__set_autoload(s->progs.count_tp, !raw);
  if (int err = op_counter__load(s))
    fail("loading", err);
  // The exit hook first: a thread's cached key must be forgotten when it
  // exits, before its task_struct address can be reused, from the first
  // counted event on. Without it the cache would be unsafe: no fallback.
  bpf_link *exit_link =
      bpf_program__attach_raw_tracepoint(s->progs.count_exit, "sched_process_exit");
  if (!exit_link)
    fail("attaching raw tracepoint sched_process_exit", errno, exit_tracing);
  impl_->links.push_back(exit_link);
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

std::vector<CountEntry> read_count_entries(int counts_fd, int tasks_fd) {
  // counts first, then the live threads: a thread that exits in between is
  // missed by this snapshot (its count moved to counts after we read it), never
  // counted twice. Snapshots can thus be low, never high; the last one, taken
  // after detach(), is exact.
  std::map<CountKey, uint64_t> sum;
  op_count_key key{}, next{};
  op_count_key *prev = nullptr;
  while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
    uint64_t v = 0;
    if (bpf_map_lookup_elem(counts_fd, &next, &v) == 0)
      sum[{next.tgid, next.start_ticks}] += v;
    key = next;
    prev = &key;
  }
  // Keyed by task address: when a deletion makes get_next_key restart from
  // the first key, the entries seen twice overwrite themselves.
  std::map<uint64_t, op_task_count> threads;
  uint64_t tkey = 0, tnext = 0;
  uint64_t *tprev = nullptr;
  while (bpf_map_get_next_key(tasks_fd, tprev, &tnext) == 0) {
    op_task_count v{};
    if (bpf_map_lookup_elem(tasks_fd, &tnext, &v) == 0)
      threads[tnext] = v;
    tkey = tnext;
    tprev = &tkey;
  }
  for (const auto &[addr, tc] : threads)
    sum[{tc.key.tgid, tc.key.start_ticks}] += tc.count;
  std::vector<CountEntry> out;
  out.reserve(sum.size());
  for (const auto &[k, v] : sum)
    out.push_back({k, v});
  return out;
}

uint64_t take_count(int counts_fd, const CountKey &k) {
  op_count_key key{};
  key.tgid = k.tgid;
  key.start_ticks = k.start_ticks;
  uint64_t v = 0;
  if (bpf_map_lookup_and_delete_elem(counts_fd, &key, &v) != 0)
    return 0;
  return v;
}

DropCounts read_drops(int drops_fd) {
  DropCounts d;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return d;
  std::vector<uint64_t> v(static_cast<size_t>(ncpu));
  auto sum = [&](uint32_t slot) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(drops_fd, &slot, v.data()) == 0)
      for (auto x : v)
        total += x;
    return total;
  };
  d.map_full = sum(OP_DROP_MAP_FULL);
  d.read_error = sum(OP_DROP_READ);
  d.other_ns = sum(OP_DROP_OTHER_NS);
  return d;
}

std::vector<CountEntry> CounterSession::entries() const {
  return read_count_entries(bpf_map__fd(impl_->skel->maps.counts),
                            bpf_map__fd(impl_->skel->maps.tasks));
}

uint64_t CounterSession::take(const CountKey &k) {
  return take_count(bpf_map__fd(impl_->skel->maps.counts), k);
}

DropCounts CounterSession::drops() const {
  return read_drops(bpf_map__fd(impl_->skel->maps.drops));
}

} // namespace offsetprobe
