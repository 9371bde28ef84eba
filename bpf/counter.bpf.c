// SPDX-License-Identifier: GPL-2.0-only
/*
 * The counting probe: counts chosen syscalls per process, keyed by
 * {tgid, start time in USER_HZ ticks}. The start time is the thread group
 * leader's start_boottime, read through offsets found by calibration; they
 * are const volatile rodata, so the verifier (and the JIT) see constants.
 *
 * Two hooks, chosen by user space: the raw sys_enter tracepoint with the
 * syscall number tested against a bitmap (the default: cheapest here, see
 * docs/counting-probe.md), or one per-syscall tracepoint each (no filter).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "counter.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 off_group_leader = 0;
const volatile __u32 off_start_boottime = 0;
/* Nanoseconds per USER_HZ tick (10000000 for USER_HZ 100). */
const volatile __u64 tick_ns = 10000000;
/* Boottime offset of our time namespace: /proc/<pid>/stat adds it, so do we. */
const volatile __s64 boot_offset_ns = 0;
/* Count only this tgid (as user space sees it); 0: every process. */
const volatile __u32 filter_tgid = 0;
/* Inside a pid namespace: report tgids as that namespace numbers them. */
const volatile __u32 use_pidns = 0;
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
/* Bit nr set: syscall nr is counted (raw tracepoint only). */
const volatile __u64 syscalls[OP_COUNT_BITMAP_WORDS] = {};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, OP_COUNT_DEFAULT_ENTRIES); /* user space may resize */
  __type(key, struct op_count_key);
  __type(value, __u64);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OP_DROP_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static __always_inline void drop(__u32 slot)
{
  __u64 *n = bpf_map_lookup_elem(&drops, &slot);

  if (n)
    *n += 1; /* per-CPU: no atomic needed */
}

static __always_inline int count_current(void)
{
  struct op_count_key key = {};
  unsigned long long task, leader, start;
  __u64 one = 1, *n;
  __u32 tgid;

  if (use_pidns) {
    struct bpf_pidns_info ns = {};

    if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns))) {
      drop(OP_DROP_OTHER_NS);
      return 0;
    }
    tgid = ns.tgid;
  } else {
    tgid = bpf_get_current_pid_tgid() >> 32;
  }
  if (filter_tgid && tgid != filter_tgid)
    return 0;

  task = bpf_get_current_task();
  if (bpf_probe_read_kernel(&leader, sizeof(leader), (void *)(task + off_group_leader)) ||
      !leader ||
      bpf_probe_read_kernel(&start, sizeof(start), (void *)(leader + off_start_boottime))) {
    drop(OP_DROP_READ);
    return 0;
  }
  key.tgid = tgid;
  /* Same truncated division as nsec_to_clock_t() for /proc/<pid>/stat. */
  key.start_ticks = (start + boot_offset_ns) / tick_ns;

  n = bpf_map_lookup_elem(&counts, &key);
  if (n) {
    __sync_fetch_and_add(n, 1);
    return 0;
  }
  if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == 0)
    return 0;
  /* Another CPU may have added the key first (a thread of the same process). */
  n = bpf_map_lookup_elem(&counts, &key);
  if (n)
    __sync_fetch_and_add(n, 1);
  else
    drop(OP_DROP_MAP_FULL);
  return 0;
}

SEC("raw_tracepoint/sys_enter")
int count_raw(struct bpf_raw_tracepoint_args *ctx)
{
  __u64 nr = ctx->args[1];

  if (nr >= OP_COUNT_MAX_NR || !((syscalls[nr / 64] >> (nr % 64)) & 1))
    return 0;
  return count_current();
}

/* Attached to syscalls/sys_enter_<name> for each chosen syscall. */
SEC("tracepoint")
int count_tp(void *ctx)
{
  return count_current();
}
