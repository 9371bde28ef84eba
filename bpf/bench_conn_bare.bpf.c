// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark only: the floor for the connection probe (connwatch.bpf.c). The
 * same classic tracepoint, sock:inet_sock_set_state, counting its hits in a
 * per-CPU slot: no record copy, no socket reads, no map of connections. What
 * conn costs above this is the price of its records.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} hits SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int bare_conn(void *ctx)
{
  __u32 key = 0;
  __u64 *n = bpf_map_lookup_elem(&hits, &key);

  if (n)
    *n += 1;
  return 0;
}
