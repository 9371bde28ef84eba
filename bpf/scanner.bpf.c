// SPDX-License-Identifier: GPL-2.0-only
/*
 * The scanner: copies the raw bytes of a subject's task_struct into a slot.
 *
 * It knows nothing about the layout of task_struct. A task is captured only
 * when its comm equals one of the cookies the running calibration put into
 * `cookies`, so it reads no other process (least reach), and it picks subjects
 * by comm rather than pid so that it works from inside a pid namespace.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "scanner.h"
#include "subject.bpf.h"
#include "read_ok.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct op_snapshot);
} snapshots SEC(".maps");

/* Syscall number of getppid on this architecture, for the raw tracepoint. */
const volatile __u64 trigger_nr = 0;

/* How many chunks to read; set before load. */
const volatile __u32 nr_chunks = OP_MAX_CHUNKS;

static __always_inline int capture(unsigned int site)
{
  struct op_snapshot *snap;
  unsigned long long task;
  __u32 i;

  snap = subject_record(&snapshots);
  if (!snap)
    return 0;

  task = bpf_get_current_task();
  snap->task_addr = task;
  snap->pid_tgid = bpf_get_current_pid_tgid();
  snap->site = site;
  snap->readable = 0;
  for (i = 0; i < OP_MAX_CHUNKS && i < nr_chunks; i++) {
    void *dst = snap->data + i * OP_CHUNK_SIZE;

    /* On a fault the helper zeroes dst; the bit stays clear. */
    snap->readable |=
        read_ok(bpf_probe_read_kernel(dst, OP_CHUNK_SIZE, (void *)(task + i * OP_CHUNK_SIZE)),
                1ULL << i);
  }
  __sync_fetch_and_add(&snap->count, 1);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int scan_trigger_tp(void *ctx)
{
  return capture(OP_SITE_TRIGGER);
}

/* Where per-syscall tracepoints are absent (no CONFIG_FTRACE_SYSCALLS, or no
 * tracefs): the raw sys_enter tracepoint, filtered by syscall number. */
SEC("raw_tracepoint/sys_enter")
int scan_trigger_raw(struct bpf_raw_tracepoint_args *ctx)
{
  if (ctx->args[1] != trigger_nr)
    return 0;
  return capture(OP_SITE_TRIGGER);
}

/* Fallback where syscall tracepoints are absent: a uprobe on the binary's own
 * trigger function, attached by the loader. */
SEC("uprobe")
int scan_trigger_uprobe(void *ctx)
{
  return capture(OP_SITE_TRIGGER);
}

SEC("tracepoint/sched/sched_process_exit")
int scan_exit(void *ctx)
{
  return capture(OP_SITE_EXIT);
}

SEC("raw_tracepoint/sched_process_exit")
int scan_exit_raw(void *ctx)
{
  return capture(OP_SITE_EXIT);
}
