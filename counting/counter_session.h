// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of the counting probe: counter.bpf.c loaded and attached,
// behind a narrow interface. RAII: destroying the session detaches the
// programs and frees the maps.
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "opens/file_offsets.h"

#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

// Where the probe is attached.
enum class CountHook {
  raw_tracepoint, // raw sys_enter, syscall number tested in the program (default)
  tracepoint,     // one syscalls:sys_enter_<name> tracepoint per syscall
};

const char *to_string(CountHook h);

// The hook --hook auto picks: the per-syscall tracepoints when tracefs has
// syscalls/sys_enter_<name> for every name, else the raw sys_enter. The raw
// hook is cheaper per counted event but runs on every syscall of the host;
// see docs/counting-probe.md for the measurements.
CountHook choose_hook(const std::vector<std::string> &syscall_names);
std::optional<CountHook> count_hook_from_string(const std::string &s);

// The pid namespace tgids are reported in (from /proc/self/ns/pid).
struct PidNamespace {
  uint64_t dev = 0, ino = 0;
};

// The pid namespace of this process when it is not the initial one, else
// nullopt: then the kernel's global tgids are the ones /proc shows us.
std::optional<PidNamespace> nested_pid_namespace();

struct CounterConfig {
  uint32_t off_group_leader = 0;
  uint32_t off_start_boottime = 0;
  uint64_t tick_ns = 10'000'000; // 1e9 / USER_HZ
  int64_t boot_offset_ns = 0;    // time namespace boottime offset
  uint32_t filter_tgid = 0;      // 0: all processes
  std::optional<PidNamespace> pidns;
  std::vector<uint32_t> syscall_nrs;
  std::vector<std::string> syscall_names; // for the tracepoint hook
  CountHook hook = CountHook::raw_tracepoint;
  uint32_t max_entries = 65536;
  bool no_task_cache = false; // benchmark only: read the key on every event
  // Names from the kernel (libbpf only): the file family's offsets and
  // task_struct.comm. Unset: processes are named from /proc alone.
  std::optional<FileWalkOffsets> names;
  uint32_t off_comm = 0;
};

// A process as the probe keys it: tgid and start time in USER_HZ ticks.
struct CountKey {
  uint32_t tgid = 0;
  uint64_t start_ticks = 0;
  auto operator<=>(const CountKey &) const = default;
};

struct CountEntry {
  CountKey key;
  uint64_t count = 0;
};

struct DropCounts {
  uint64_t map_full = 0;   // a new process could not be added: the map was full
  uint64_t read_error = 0; // reading group_leader->start_boottime faulted
  uint64_t other_ns = 0;   // the task is outside our pid namespace
  uint64_t names = 0;      // a process's name from the kernel was lost (ring buffer full)
};

// A process's name as the kernel sent it (counting/kernel_names.h decodes it).
struct KernelName {
  CountKey key;
  std::string comm; // the leader's comm ("" if its read faulted)
  std::string exe;  // mm->exe_file's path ("" when the walk did not reach the root)
};

// A loaded and attached counting probe, whichever way it was loaded: the
// libbpf skeleton (CounterSession, below) or BCC source compiled at run time
// (BccCounterSession, counting/bcc_counter_session.h, offsetprobe-bcc only).
// Both run the same program over the same map layout (bpf/counter.h).
class Counter {
public:
  virtual ~Counter() = default;
  // Every process key with its count (exited threads + live threads). A
  // snapshot taken while counting may be low by the counts of threads that
  // exit during the read; one taken after detach() is exact.
  virtual std::vector<CountEntry> entries() const = 0;
  // The final count of a process that no longer exists, removed from the map
  // (0 if the key is not there). Call only once /proc shows the process gone:
  // then none of its threads can add to it anymore.
  virtual uint64_t take(const CountKey &key) = 0;
  // The drop counters, summed over CPUs.
  virtual DropCounts drops() const = 0;
  // Detaches the programs (the maps stay readable until destruction).
  virtual void detach() = 0;
  // The names the kernel sent since the last call (none without
  // CounterConfig::names), oldest first.
  virtual std::vector<KernelName> take_names() { return {}; }
};

// Makes a counter from a configuration (the backend's loader).
using CounterFactory = std::function<std::unique_ptr<Counter>(const CounterConfig &)>;

// The probe's maps read by fd, shared by both loaders: `counts`
// (op_count_key -> u64), `tasks` (task address -> op_task_count) and the
// per-CPU `drops` array.
std::vector<CountEntry> read_count_entries(int counts_fd, int tasks_fd);
uint64_t take_count(int counts_fd, const CountKey &key);
DropCounts read_drops(int drops_fd);

// The probe's spec (bpf/counter.bpf.c), the same for both backends: the
// offsets and the configuration as constants, the maps' size, and the hook's
// programs. Throws Error(ErrorKind::usage) for a syscall number beyond the bitmap.
ProgramSpec counter_spec(const CounterConfig &cfg);

// The counting probe on either backend: built by `load` from counter_spec(),
// then attached (the exit hook first). Throws Error (ErrorKind::usage,
// ErrorKind::permission, ErrorKind::bpf, ErrorKind::tracing) with the step that failed.
class LoadedCounter : public Counter {
public:
  LoadedCounter(const ObjectLoader &load, const CounterConfig &cfg);
  ~LoadedCounter() override;
  LoadedCounter(const LoadedCounter &) = delete;
  LoadedCounter &operator=(const LoadedCounter &) = delete;

  std::vector<CountEntry> entries() const override;
  uint64_t take(const CountKey &key) override;
  DropCounts drops() const override;
  void detach() override;
  std::vector<KernelName> take_names() override;

private:
  std::unique_ptr<LoadedObject> obj_;
  struct NameQueue;
  std::unique_ptr<NameQueue> names_; // set with CounterConfig::names
};

// The libbpf loader (bpf/counter.bpf.c as built, through its skeleton's ELF).
class CounterSession : public LoadedCounter {
public:
  explicit CounterSession(const CounterConfig &cfg);
};

} // namespace offsetprobe
