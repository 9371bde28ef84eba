// SPDX-License-Identifier: GPL-2.0-only
/*
 * syscount: the Go example agent's BPF program. Counts one syscall per
 * process, keyed by {tgid, start time in USER_HZ ticks}, the start time being
 * the thread group leader's task->group_leader->start_boottime. Neither
 * offset is compiled in: both are const volatile rodata that the Go loader
 * fills from the offsetprobe cache (offsetprobe.RewriteConstants) before the
 * program is loaded, so the verifier sees constants. No kernel header and no
 * BTF of the running kernel are needed, only <linux/bpf.h>.
 *
 * The hook is the raw tracepoint sys_enter, with the syscall number tested
 * against a constant: a raw tracepoint needs no tracefs, and the
 * cilium/ebpf Debian ships (0.9.1) looks for tracefs only under
 * /sys/kernel/debug/tracing, which a host may not mount.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "syscount.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader; never used as 0: the loader refuses to load without them. */
const volatile __u32 off_group_leader = 0;
const volatile __u32 off_start_boottime = 0;
/* Nanoseconds per USER_HZ tick, the unit of /proc/<pid>/stat's start time. */
const volatile __u64 tick_ns = 10000000;
/* The syscall counted (its number on this architecture); set by the loader. */
const volatile __s64 syscall_nr = -1;
/* Count only this tgid; 0: every process. */
const volatile __u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSCOUNT_MAX_ENTRIES);
	__type(key, struct syscount_key);
	__type(value, __u64);
} counts SEC(".maps");

/* Slot 0: events whose key could not be read; slot 1: events lost to a full map. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &slot);

	if (v)
		*v += 1; /* per-CPU: no atomic needed */
}

SEC("raw_tracepoint/sys_enter")
int count_syscall(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	unsigned long long task, leader = 0, start = 0;
	struct syscount_key key = {};
	__u64 one = 1, *v;

	/* sys_enter(struct pt_regs *regs, long id) */
	if ((__s64)ctx->args[1] != syscall_nr)
		return 0;
	if (filter_tgid && tgid != filter_tgid)
		return 0;
	task = bpf_get_current_task();
	/* Every thread, the leader included, goes through group_leader: the
	 * key is the process's start, not the calling thread's. */
	if (bpf_probe_read_kernel(&leader, sizeof(leader), (void *)(task + off_group_leader)) ||
	    !leader ||
	    bpf_probe_read_kernel(&start, sizeof(start), (void *)(leader + off_start_boottime))) {
		count_lost(0);
		return 0;
	}
	key.tgid = tgid;
	/* Truncated division, as nsec_to_clock_t() for /proc/<pid>/stat. */
	key.start_ticks = start / tick_ns;

	v = bpf_map_lookup_elem(&counts, &key);
	if (v) {
		/* Threads of one process race on one value: an atomic add, never
		 * *v = *v + 1, which loses counts. */
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == 0)
		return 0;
	/* Another thread of the process added the key first. */
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		count_lost(1);
	return 0;
}
