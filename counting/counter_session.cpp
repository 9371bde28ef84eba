// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/loaded_object.h"
#include "counting/counter_session.h"

#include "calibration/model/error.h"
#include "counting/kernel_names.h"

#include "bpf/runtime/libbpf_object.h"

#include "counter.h"
#include "counter.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

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
    throw Error(ErrorKind::failure, std::string("stat /proc/self/ns/pid: ") + std::strerror(errno));
  if (st.st_ino == proc_pid_init_ino)
    return std::nullopt;
  return PidNamespace{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// The names ring buffer, drained into a queue by take_names().
struct LoadedCounter::NameQueue {
  explicit NameQueue(int fd) {
    rb = ring_buffer__new(fd, on_name, this, nullptr);
    if (!rb)
      throw Error(ErrorKind::bpf, "counting probe: the names ring buffer: " + errno_text(errno));
  }
  ~NameQueue() { ring_buffer__free(rb); }
  static int on_name(void *ctx, void *data, size_t size) {
    if (auto n = decode_count_name(data, size))
      static_cast<NameQueue *>(ctx)->got.push_back(std::move(*n));
    return 0;
  }
  ring_buffer *rb = nullptr;
  std::vector<KernelName> got;
};

LoadedCounter::LoadedCounter(const ObjectLoader &load, const CounterConfig &cfg) {
  if (cfg.syscall_nrs.empty())
    throw Error(ErrorKind::usage, "counting probe: no syscall to count");
  if (cfg.tick_ns == 0)
    throw Error(ErrorKind::failure, "counting probe: tick length is 0");
  bool raw = cfg.hook == CountHook::raw_tracepoint;
  if (!raw && cfg.syscall_names.size() != cfg.syscall_nrs.size())
    throw Error(ErrorKind::failure,
                "counting probe: the tracepoint hook needs every syscall's name");
  obj_ = load(counter_spec(cfg)).take();
  auto attach = [&](const Hook &h, const std::string &what, const std::string &hint) {
    if (auto e = obj_->attach(h))
      throw_failure(attach_failure(*obj_, "counting probe: attaching " + what, *e, hint));
  };
  // The exit hook first: a thread's cached key must be forgotten when it
  // exits, before its task_struct address can be reused, from the first
  // counted event on. Without it the cache would be unsafe: no fallback.
  attach({HookKind::raw_tracepoint, "count_exit", "sched_process_exit"},
         "raw tracepoint sched_process_exit", "");
  if (cfg.names) {
    names_ = std::make_unique<NameQueue>(obj_->map_fd("names"));
    attach({HookKind::raw_tracepoint, "count_exec", "sched_process_exec"},
           "raw tracepoint sched_process_exec", "");
  }
  if (raw) {
    attach({HookKind::raw_tracepoint, "count_raw", "sys_enter"}, "raw tracepoint sys_enter", "");
    return;
  }
  for (const auto &name : cfg.syscall_names) {
    std::string tp = "syscalls:sys_enter_" + name;
    attach({HookKind::tracepoint, "count_tp", tp}, "tracepoint " + tp,
           " (is tracefs mounted at /sys/kernel/tracing? or use --hook raw_tracepoint)");
  }
}

LoadedCounter::~LoadedCounter() = default;

std::vector<KernelName> LoadedCounter::take_names() {
  if (!names_)
    return {};
  ring_buffer__consume(names_->rb);
  return std::exchange(names_->got, {});
}

void LoadedCounter::detach() {
  obj_->detach(); // the counting hooks first, the exit hook (attached first) last
}

std::vector<CountEntry> LoadedCounter::entries() const {
  return read_count_entries(obj_->map_fd("counts"), obj_->map_fd("tasks"));
}

uint64_t LoadedCounter::take(const CountKey &k) {
  return take_count(obj_->map_fd("counts"), k);
}

DropCounts LoadedCounter::drops() const {
  return read_drops(obj_->map_fd("drops"));
}

namespace {

Expected<std::unique_ptr<LoadedObject>> load_counter_libbpf(const ProgramSpec &spec) {
  LibbpfElf elf{"op_counter", nullptr, 0};
  elf.bytes = op_counter__elf_bytes(&elf.size);
  return try_load_libbpf(spec, elf);
}

} // namespace

CounterSession::CounterSession(const CounterConfig &cfg)
    : LoadedCounter(load_counter_libbpf, cfg) {}

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
  // A slot that cannot be read counts 0, as it did before percpu_sum.
  auto sum = [&](uint32_t slot) { return percpu_sum(drops_fd, slot).value_or(0); };
  d.map_full = sum(OP_DROP_MAP_FULL);
  d.read_error = sum(OP_DROP_READ);
  d.other_ns = sum(OP_DROP_OTHER_NS);
  d.names = sum(OP_DROP_NAME);
  return d;
}

} // namespace offsetprobe
