// SPDX-License-Identifier: GPL-2.0-only
/*
 * The scanner, as BCC source: the same program as scanner.bpf.c, compiled at
 * run time by libbcc (offsetprobe-bcc). It copies the raw bytes of a subject's
 * task_struct into a slot and knows nothing about its layout, so it uses no
 * kernel struct definition: the host's headers only have to get BCC's helper
 * definitions through the compiler.
 *
 * The loader passes, as -D macros:
 *   OP_NR_CHUNKS    chunks to read (from the slab size of task_struct)
 *   OP_TRIGGER_NR   syscall number of getppid (raw tracepoint filter)
 *   OP_WANT_TP, OP_WANT_RAW, OP_WANT_UPROBE   which trigger programs to build
 * A program is built only when it will be attached: TRACEPOINT_PROBE makes
 * BCC read the tracepoint's format from tracefs at compile time.
 *
 * The plain-data header below is inlined at build time (bpf/embed_bcc.py), so
 * the layouts are those of the libbpf scanner by construction.
 */
#include "scanner.h"

/* The comm as a map key: a struct, because BCC's map macros take a type name. */
struct op_comm_key {
  char c[OP_COMM_LEN];
};

BPF_HASH(cookies, struct op_comm_key, u32, OP_MAX_SLOTS);
BPF_ARRAY(snapshots, struct op_snapshot, OP_MAX_SLOTS);

static __always_inline int capture(unsigned int site)
{
  struct op_comm_key comm = {};
  struct op_snapshot *snap;
  unsigned long long task;
  u32 *slot;
  u32 i;

  if (bpf_get_current_comm(&comm.c, sizeof(comm.c)))
    return 0;
  slot = cookies.lookup(&comm);
  if (!slot)
    return 0;
  snap = snapshots.lookup(slot);
  if (!snap)
    return 0;

  task = bpf_get_current_task();
  snap->task_addr = task;
  snap->pid_tgid = bpf_get_current_pid_tgid();
  snap->site = site;
  snap->readable = 0;
  for (i = 0; i < OP_MAX_CHUNKS && i < OP_NR_CHUNKS; i++) {
    void *dst = snap->data + i * OP_CHUNK_SIZE;

    /* On a fault the helper zeroes dst; the bit stays clear. */
    if (bpf_probe_read_kernel(dst, OP_CHUNK_SIZE, (void *)(task + i * OP_CHUNK_SIZE)) == 0)
      snap->readable |= 1ULL << i;
  }
  __sync_fetch_and_add(&snap->count, 1);
  return 0;
}

#ifdef OP_WANT_TP
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
  return capture(OP_SITE_TRIGGER);
}
#endif

#ifdef OP_WANT_RAW
/* Attached as raw_tracepoint__sys_enter, filtered by syscall number. */
RAW_TRACEPOINT_PROBE(sys_enter)
{
  if (ctx->args[1] != OP_TRIGGER_NR)
    return 0;
  return capture(OP_SITE_TRIGGER);
}
#endif

#ifdef OP_WANT_UPROBE
int scan_trigger_uprobe(struct pt_regs *ctx)
{
  return capture(OP_SITE_TRIGGER);
}
#endif

/* Always the raw tracepoint: detaching it does not wait for an RCU grace
 * period, as a perf-event tracepoint's last detach does. */
RAW_TRACEPOINT_PROBE(sched_process_exit)
{
  return capture(OP_SITE_EXIT);
}
