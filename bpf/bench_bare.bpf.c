// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark only: the floor for the counting probe. The same hooks and the
 * same syscall filter, but keyed by tgid alone: no task_struct reads, no
 * division. What the probe costs above this is the price of the start-time key.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "counter.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 syscalls[OP_COUNT_BITMAP_WORDS] = {};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, OP_COUNT_DEFAULT_ENTRIES);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

static __always_inline int count_tgid(void)
{
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u64 one = 1, *n;

  n = bpf_map_lookup_elem(&counts, &tgid);
  if (n) {
    __sync_fetch_and_add(n, 1);
    return 0;
  }
  bpf_map_update_elem(&counts, &tgid, &one, BPF_NOEXIST);
  return 0;
}

SEC("raw_tracepoint/sys_enter")
int bare_raw(struct bpf_raw_tracepoint_args *ctx)
{
  __u64 nr = ctx->args[1];

  if (nr >= OP_COUNT_MAX_NR || !((syscalls[nr / 64] >> (nr % 64)) & 1))
    return 0;
  return count_tgid();
}

SEC("tracepoint")
int bare_tp(void *ctx)
{
  return count_tgid();
}
