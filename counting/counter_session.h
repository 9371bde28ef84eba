// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of the counting probe: counter.bpf.c loaded and attached,
// behind a narrow interface. RAII: destroying the session detaches the
// programs and frees the maps.
#pragma once

#include <compare>
#include <cstdint>
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
std::optional<CountHook> count_hook_from_string(const std::string &s);

// The pid namespace tgids are reported in (from /proc/self/ns/pid).
struct PidNamespace {
  uint64_t dev = 0, ino = 0;
};

// The pid namespace of this process when it is not the initial one (NSpid in
// /proc/self/status has more than one level), else nullopt: then the kernel's
// global tgids are the ones /proc shows us.
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
};

class CounterSession {
public:
  // Loads and attaches. Throws Fatal (exit_permission, exit_bpf, exit_tracing)
  // with the step that failed.
  explicit CounterSession(const CounterConfig &cfg);
  ~CounterSession();
  CounterSession(const CounterSession &) = delete;
  CounterSession &operator=(const CounterSession &) = delete;

  // Every key in the counts map with its count.
  std::vector<CountEntry> entries() const;
  // Removes a key (its process has exited and its count was taken).
  void remove(const CountKey &key);
  // The drop counters, summed over CPUs.
  DropCounts drops() const;
  // Detaches the programs (the maps stay readable until destruction).
  void detach();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace offsetprobe
