// SPDX-License-Identifier: GPL-2.0-only
/*
 * The scanner: copies the raw bytes of a subject's task_struct into a slot.
 *
 * It knows nothing about the layout of task_struct. A task is captured only
 * when its comm equals one of the cookies the running calibration put into
 * `cookies`, so it reads no other process (least reach), and it picks subjects
 * by comm rather than pid so that it works from inside a pid namespace.
 *
 * One source for both backends (compat.bpf.h). It uses no kernel struct
 * definition, so under BCC the host's headers only have to get BCC's helper
 * definitions through the compiler.
 */
#include "compat.bpf.h"
#include "scanner.h"
#include "subject.bpf.h"
#include "read_ok.bpf.h"

OP_LICENSE_GPL;

OP_ARRAY_MAP(snapshots, struct op_snapshot, OP_MAX_SLOTS);

/* Syscall number of getppid on this architecture, for the raw tracepoint. */
OP_CONST(__u64, trigger_nr, OP_TRIGGER_NR, 0);

/* How many chunks to read (from the slab size of task_struct). */
OP_CONST(__u32, nr_chunks, OP_NR_CHUNKS, OP_MAX_CHUNKS);

static __always_inline int capture(unsigned int site)
{
  struct op_snapshot *snap;
  unsigned long long task;
  __u32 *slot, i;

  slot = subject_slot();
  snap = slot ? bpf_map_lookup_elem(&snapshots, slot) : NULL;
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

#if OP_WANT_TP
OP_SEC("tracepoint/syscalls/sys_enter_getppid")
int scan_trigger_tp(void *ctx)
{
  return capture(OP_SITE_TRIGGER);
}
#endif

#if OP_WANT_RAW
/* Where per-syscall tracepoints are absent (no CONFIG_FTRACE_SYSCALLS, or no
 * tracefs): the raw sys_enter tracepoint, filtered by syscall number. */
OP_SEC("raw_tracepoint/sys_enter")
int scan_trigger_raw(struct bpf_raw_tracepoint_args *ctx)
{
  if (ctx->args[1] != trigger_nr)
    return 0;
  return capture(OP_SITE_TRIGGER);
}
#endif

#if OP_WANT_UPROBE
/* Fallback where syscall tracepoints are absent: a uprobe on the binary's own
 * trigger function, attached by the loader. */
OP_SEC("uprobe")
int scan_trigger_uprobe(void *ctx)
{
  return capture(OP_SITE_TRIGGER);
}
#endif

#if OP_WANT_EXIT_TP
OP_SEC("tracepoint/sched/sched_process_exit")
int scan_exit(void *ctx)
{
  return capture(OP_SITE_EXIT);
}
#endif

/* The exit hook the loaders attach: detaching a raw tracepoint does not wait
 * for an RCU grace period, as a perf-event tracepoint's last detach does. */
OP_SEC("raw_tracepoint/sched_process_exit")
int scan_exit_raw(void *ctx)
{
  return capture(OP_SITE_EXIT);
}
